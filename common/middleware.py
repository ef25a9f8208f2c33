"""Requests no page can answer: text that no database stores, refused before any view runs."""

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

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
