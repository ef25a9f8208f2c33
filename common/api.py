"""The one place a business-rule error becomes an HTTP answer."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from common.errors import AllotError

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
    return exception_handler(exc, context)
