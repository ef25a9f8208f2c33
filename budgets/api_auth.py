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
    """Rate per API key (by its prefix), or per signed-in user; scope rates in settings.

    Counted as a sliding window over two fixed ones: a counter for this period and the last,
    the last one weighted by how much of it still falls in the window (the estimate rate
    limiters at the edge use). DRF's own throttle keeps a list of every call's time in the
    cache and reads and writes it whole on each call: at a gateway's 200 calls a second that
    list holds 12,000 times, about 2 ms of pickling per call, and two processes writing it at
    once lose each other's calls. Here a call is one small counter, incremented atomically
    in the shared cache; a refused call is taken back out, as DRF does not count refusals."""

    scope = "api"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, IntegrationKey):
            ident = f"key:{request.auth.prefix}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        period, self.elapsed = divmod(self.now, self.duration)
        current = f"{self.key}:{int(period)}"
        self.last = self.cache.get(f"{self.key}:{int(period) - 1}") or 0
        self.count = self._count_one(current)
        if self.count is None:  # the cache did not answer (and logged it): nothing to count on
            return True
        if self._seen(self.count) <= self.num_requests:
            return True
        self.cache.decr(current)
        self.count -= 1
        return False

    def _count_one(self, current: str) -> int | None:
        try:
            return self.cache.incr(current)
        except ValueError:  # the period's first call
            if self.cache.add(current, 1, 2 * self.duration):
                return 1
            return self.cache.incr(current)  # another process's first call came in between

    def _seen(self, count: int) -> float:
        return self.last * (1 - self.elapsed / self.duration) + count

    def wait(self) -> float | None:
        """Seconds until one more call fits: the end of this period when it alone is full,
        else when enough of the last period has slid out of the window."""
        left_in_period = self.duration - self.elapsed
        room = self.num_requests - self.count - 1
        if room < 0 or not self.last:
            return left_in_period
        slide = self.duration * (1 - room / self.last) - self.elapsed
        return max(min(slide, left_in_period), 0.001)
