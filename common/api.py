"""The one place a business-rule error becomes an HTTP answer, and the API's shared input rules
for text and money."""

from django.conf import settings
from django.core.validators import ProhibitNullCharactersValidator
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.validators import ProhibitSurrogateCharactersValidator
from rest_framework.views import exception_handler

from common.errors import AllotError
from common.money import MoneyError, parse_decimal_string
from common.text import text_problem

STATUS_BY_CODE = {
    "too_many_events": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "not_found": status.HTTP_404_NOT_FOUND,
    "conflict": status.HTTP_409_CONFLICT,
}


def allot_exception_handler(exc, context):
    if isinstance(exc, AllotError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body["field"] = exc.field
        return Response(body, status=STATUS_BY_CODE.get(exc.code, status.HTTP_400_BAD_REQUEST))
    if isinstance(exc, MoneyError):
        return Response({"detail": str(exc), "code": "invalid"}, status=status.HTTP_400_BAD_REQUEST)
    return exception_handler(exc, context)


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, but a body over the size limit is a 413 before it is read, and JSON
    nested deeper than Python can follow is a 400, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        length = int((request and request.META.get("CONTENT_LENGTH")) or 0)
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise RequestTooLarge()
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class TextField(serializers.CharField):
    """A CharField whose text goes through the one text check of the API (common.text), as the
    usage events' fields do: NUL and lone surrogates are refused with a message naming the field."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [  # the check below replaces DRF's two, with the same message as usage
            v
            for v in self.validators
            if not isinstance(
                v, ProhibitNullCharactersValidator | ProhibitSurrogateCharactersValidator
            )
        ]

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = text_problem(value, self.field_name)
        if problem:
            raise serializers.ValidationError(problem, code="invalid")
        return value


class DollarsField(serializers.DecimalField):
    """Money on the wire: a decimal string (or a whole number) through the one parser of
    common.money; floats, exponents, separators and other scripts' digits are refused."""

    def to_internal_value(self, data):
        if isinstance(data, float):
            raise serializers.ValidationError(
                'Send money as a decimal string, e.g. "0.0123".', code="invalid"
            )
        if isinstance(data, str):
            try:
                parse_decimal_string(data)
            except MoneyError as exc:
                raise serializers.ValidationError(str(exc), code="invalid") from exc
        return super().to_internal_value(data)
