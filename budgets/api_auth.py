"""API keys in the `Authorization: Api-Key <key>` header, scopes, and per-key throttling."""

import logging
from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from budgets.models import IntegrationKey
from common.text import is_storable

logger = logging.getLogger(__name__)
KEYWORD = "Api-Key"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # one write a minute per key, not one per request


class IntegrationUser(AnonymousUser):
    """The caller behind an API key: not a person, but authenticated as the key's integration."""

    def __init__(self, key: IntegrationKey):
        self.key = key

    @property
    def is_authenticated(self) -> bool:
        return True

    def __str__(self) -> str:
        return f"integration {self.key.name}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header.startswith(f"{KEYWORD} "):
            return None
        key = header[len(KEYWORD) + 1 :].strip()
        try:
            if not is_storable(key):  # a NUL cannot be looked up, so it is no key of ours
                raise IntegrationKey.DoesNotExist
            # From the shared key cache when it is there; any change to a key clears it, so
            # a revoked key is refused on the next call (budgets/models/keys.py).
            api_key = IntegrationKey.objects.get_from_key(key)
        except IntegrationKey.DoesNotExist:
            # Log which key was tried by its public prefix only, never the secret; once per
            # request (authorize's hot path hands a refused key on to DRF's path, which asks
            # again).
            if not getattr(request, "allot_key_refusal_logged", False):
                logger.warning("API key refused (prefix %s)", key.partition(".")[0][:8])
                request.allot_key_refusal_logged = True
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.") from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            # Clears the key's cache entry too: the next call reads the row with this time.
            IntegrationKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return IntegrationUser(api_key), api_key

    def authenticate_header(self, request) -> str:
        return KEYWORD


class ApiKeySchema(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            # Markdown on the docs page: in a code span the <key> shows instead of being eaten.
            "description": "The key from `create_api_key`, sent as `Api-Key <key>`.",
        }


def api_key_with_scope(scope: str) -> type[permissions.BasePermission]:
    class HasScope(permissions.BasePermission):
        message = f"This API key does not have the {str(scope)!r} scope."  # the value, not Enum

        def has_permission(self, request, view) -> bool:
            return isinstance(request.auth, IntegrationKey) and request.auth.has_scope(scope)

    HasScope.__name__ = f"HasScope_{scope}"
    return HasScope


class PerKeyThrottle(throttling.SimpleRateThrottle):
    """Rate per API key (by its prefix), or per signed-in user; scope rates in settings."""

    scope = "api"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, IntegrationKey):
            ident = f"key:{request.auth.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
