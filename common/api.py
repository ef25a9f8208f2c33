"""The one place a business-rule error becomes an HTTP answer, and the API's shared input rules:
text, money and the size of a request body."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.validators import ProhibitNullCharactersValidator
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.validators import ProhibitSurrogateCharactersValidator
from rest_framework.views import exception_handler

from common.db import fault_body
from common.errors import AllotError
from common.money import MoneyError, parse_decimal_string
from common.text import text_problem

STATUS_BY_CODE = {
    "too_many_events": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    "not_found": status.HTTP_404_NOT_FOUND,
    "conflict": status.HTTP_409_CONFLICT,
}


def allot_exception_handler(exc, context):
    fault = fault_body(exc)
    if fault is not None:
        body, code, retry_after = fault
        return Response(body, status=code, headers={"Retry-After": str(retry_after)})
    if isinstance(exc, RequestDataTooBig):
        exc = body_too_large()
    if isinstance(exc, AllotError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body["field"] = exc.field
        return Response(body, status=STATUS_BY_CODE.get(exc.code, status.HTTP_400_BAD_REQUEST))
    if isinstance(exc, MoneyError):
        return Response({"detail": str(exc), "code": "invalid"}, status=status.HTTP_400_BAD_REQUEST)
    return exception_handler(exc, context)


def body_too_large() -> AllotError:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    in_mib = f" ({limit // 2**20} MiB)" if limit % 2**20 == 0 else ""
    return AllotError(
        f"The request body is larger than the API's limit of {limit:,} bytes{in_mib}; "
        "send it in smaller requests.",
        code="too_large",
    )


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class BodyLimitNegotiation(DefaultContentNegotiation):
    """Django's body limit (DATA_UPLOAD_MAX_MEMORY_SIZE) applied as DRF starts to read a body,
    before it looks at the content type: an oversized body of any type is the same 413 (DRF
    would answer 415 to a form-encoded one without ever reading it). JSON bodies are read by
    Django, which raises the same RequestDataTooBig; the exception handler answers both."""

    def select_parser(self, request, parsers):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and _content_length(request) > limit:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        return super().select_parser(request, parsers)


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, but JSON nested deeper than Python can follow is a 400, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc


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
