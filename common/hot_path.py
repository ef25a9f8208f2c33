"""A gateway's calls answered before the middleware that only browsers need.

Authorize is on every model call a gateway makes. Behind this middleware it passed through a
dozen others (sessions, CSRF, messages, sign-in lockouts, history, a Content Security Policy
built anew for each response), and through URL resolution and the view's wrappers: about a
third of the call's own work, for a caller that has no cookie, no session and no page.

`ALLOT_HOT_PATHS` maps a URL name to a function of the request that answers it, or returns None
to send the request down the usual stack (every case it does not answer itself: a missing or
bad key, bad input, the rate limit; those are answered exactly as before). What the skipped
middleware would do to such a request is done here: the HTTPS redirect, the host check, and the
response headers (security, framing, the Content Security Policy)."""

from collections.abc import Callable

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import reverse
from django.utils.module_loading import import_string

CSP_HEADERS = ("Content-Security-Policy", "Content-Security-Policy-Report-Only")

Answer = Callable[[HttpRequest], HttpResponse | None]


class HotPathMiddleware:
    """Second outermost, inside the API's JSON errors; see the module's docstring."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.security = SecurityMiddleware(get_response)
        self.frames = XFrameOptionsMiddleware(get_response)
        self.routes: dict[str, Answer] | None = None
        self.csp: dict[str, str] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.routes is None:  # the URLconf is loaded by the first request, not at start-up
            self.routes = {
                reverse(name): import_string(target)
                for name, target in settings.ALLOT_HOT_PATHS.items()
            }
        answer = self.routes.get(request.path)  # with the script prefix, as reverse() gives it
        if answer is None:
            return self.get_response(request)
        redirect = self.security.process_request(request)  # SECURE_SSL_REDIRECT
        if redirect is not None:
            return self.get_response(request)  # the usual stack redirects it, as for any page
        request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware checks it (a 400 otherwise)
        response = answer(request)
        if response is None:
            return self.get_response(request)
        return self._headers(request, response)

    def _headers(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response = self.security.process_response(request, response)
        response = self.frames.process_response(request, response)
        if self.csp is None:
            self.csp = _csp_headers(request, response)
        for header, value in self.csp.items():
            response.setdefault(header, value)
        return response


def _csp_headers(request: HttpRequest, response: HttpResponse) -> dict[str, str]:
    """The policy django-csp writes on a response that asks for nothing of its own (no nonce,
    no per-view change): the same for every hot-path answer, so it is built once."""
    probe = HttpResponse()
    CSPMiddleware(lambda r: probe).process_response(request, probe)
    return {header: probe[header] for header in CSP_HEADERS if header in probe}
