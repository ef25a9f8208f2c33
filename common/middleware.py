"""Requests no page can answer (text that no database stores, refused before any view runs), and
the API's errors in its own shape whatever failed underneath."""

import sys
from http import HTTPStatus

from django.conf import settings
from django.core.signals import got_request_exception
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.urls import reverse

from common.db import fault_body, is_wait_timeout, session_waits_bounded

NUL = "\x00"


class RefuseNulMiddleware:
    """A NUL in a query parameter is a 400, and in the address a 404 (no record is named by
    it): PostgreSQL refuses NUL in any text it compares, so an admin filter or lookup given one
    would otherwise be a 500. The API's own views answer NUL in their path (balance: 404)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api = request.path.startswith("/api/")
        if any(NUL in key or any(NUL in v for v in values) for key, values in request.GET.lists()):
            detail = "A query parameter holds a NUL character."
            if api:
                return JsonResponse({"detail": detail, "code": "invalid"}, status=400)
            return HttpResponseBadRequest(detail)
        if NUL in request.path and not api:
            raise Http404("No page has that address.")
        return self.get_response(request)


REFUSALS = {
    400: ("invalid", "The request could not be read."),
    403: ("forbidden", "You may not do this."),
    404: ("not_found", "No API endpoint or record has that address."),
    405: ("method_not_allowed", "This address does not take that method."),
}
SERVER_ERROR_DETAIL = "The server failed to answer this request; it has been logged."


def _api_error(detail: str, code: str, status: int, retry_after: int | None = None):
    response = JsonResponse({"detail": detail, "code": code}, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


@receiver(got_request_exception)
def _remember_exception(sender, request=None, **kwargs) -> None:
    """Keep the exception Django turned into a 500, so the API's answer can say what it was."""
    if request is not None:
        request.allot_exception = sys.exc_info()[1]


class ApiErrorsAsJsonMiddleware:
    """Every error under /api/ in the API's shape ({"detail", "code"}), whatever failed: an
    address no view has, an exception no view caught, a middleware's refusal. A database fault
    is a 503 with Retry-After. Outermost, so it sees the answer of everything inside it; pages
    outside /api/ keep Django's HTML for browsers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        answer = self._as_json(request, response)
        # The headers the inner middleware set (security, CSP, Vary) stay on the JSON answer.
        for header, value in response.items():
            if header.lower() not in ("content-type", "content-length") and header not in answer:
                answer[header] = value
        answer.cookies = response.cookies
        return answer

    def _as_json(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        exc = getattr(request, "allot_exception", None)
        fault = fault_body(exc) if exc is not None else None
        if fault is not None:
            body, status, retry_after = fault
            return _api_error(body["detail"], body["code"], status, retry_after)
        if response.status_code >= 500:
            return _api_error(SERVER_ERROR_DETAIL, "server_error", response.status_code)
        code, detail = REFUSALS.get(
            response.status_code, ("invalid", f"{HTTPStatus(response.status_code).phrase}.")
        )
        return _api_error(detail, code, response.status_code)


ADMIN_BUSY = "A record this page needs is busy with another change; try again in a moment."


class AdminWaitsBoundedMiddleware:
    """The admin's pages wait at most ALLOT_ADMIN_LOCK/STATEMENT_TIMEOUT_MS for a lock or a
    statement (longer than the API's: a person is waiting, not a gateway), and a wait past it is
    a 503 page saying to try again, with Retry-After, instead of a server error."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.prefix = ""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self.prefix:
            self.prefix = reverse("admin:index")
        if not request.path.startswith(self.prefix):
            return self.get_response(request)
        with session_waits_bounded(
            lock_ms=settings.ALLOT_ADMIN_LOCK_TIMEOUT_MS,
            statement_ms=settings.ALLOT_ADMIN_STATEMENT_TIMEOUT_MS,
        ):
            return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if self.prefix and request.path.startswith(self.prefix) and is_wait_timeout(exception):
            body, status, retry_after = fault_body(exception)
            response = HttpResponse(ADMIN_BUSY, status=status, content_type="text/plain")
            response["Retry-After"] = str(retry_after)
            return response
        return None
