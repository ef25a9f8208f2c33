"""Views that fail on purpose, mounted under /api/ by the API error tests only."""

from django.db import OperationalError
from django.http import HttpResponse
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView


class DatabaseGoneApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise OperationalError("server closed the connection unexpectedly")


def plain_view_bug(request):
    raise ValueError("a bug in a view DRF never sees")


def plain_view_database_gone(request):
    raise OperationalError("server closed the connection unexpectedly")


def html_page(request):
    raise ValueError("a bug on a page")


urlpatterns = [
    path("api/v1/faults/drf-database/", DatabaseGoneApi.as_view()),
    path("api/v1/faults/plain-bug/", plain_view_bug),
    path("api/v1/faults/plain-database/", plain_view_database_gone),
    path("faults/page/", html_page),
    path("ok/", lambda request: HttpResponse("ok")),
    path("", include("config.urls")),
]
