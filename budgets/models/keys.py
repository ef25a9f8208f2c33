"""The API keys gateways use, and the short-lived shared cache that spares a query per call.

A key is looked up on every API call. Its row (never the key itself: only its prefix and hash
are stored) is kept in the cache (CACHE_URL: Redis in production, shared by every process) for
KEY_CACHE_SECONDS. Any change to a key through the ORM clears its entry at once and again after
the transaction commits (so a request racing the change cannot put the old row back): saving or
deleting one key, and update() or delete() on a queryset of keys. A revoked or deleted key is
therefore refused on the next call, on this process and, through the shared cache, on every
other. Only a change made outside the ORM (raw SQL) waits out the KEY_CACHE_SECONDS.
"""

import hashlib
from collections.abc import Iterable

from django.core.cache import cache
from django.db import models, transaction
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

KEY_CACHE_SECONDS = 30


class ApiScope(models.TextChoices):
    INGEST = "ingest", "Push usage"
    AUTHORIZE = "authorize", "Authorize spending"
    READ_BALANCES = "read_balances", "Read balances"
    # Asks for transfers on a named person's behalf (approvals/apis.py); never a default scope.
    REQUEST_TRANSFERS = "request_transfers", "Request transfers"


def default_scopes() -> list[str]:
    return [ApiScope.INGEST, ApiScope.AUTHORIZE]


def key_cache_key(prefix: str) -> str:
    """The cache entry of the key with this public prefix (hashed: a prefix comes from a request
    header, and a cache key must be short and plain)."""
    return "allot:api-key:" + hashlib.sha256(prefix.encode(errors="replace")).hexdigest()[:40]


def keys_cache_clear(prefixes: Iterable[str]) -> None:
    """Forget these keys' cached rows now, and again once the change is committed."""
    entries = [key_cache_key(prefix) for prefix in prefixes]
    if not entries:
        return
    cache.delete_many(entries)
    transaction.on_commit(lambda: cache.delete_many(entries))


class IntegrationKeyQuerySet(models.QuerySet):
    """update() and delete() clear the cache of every key they touch."""

    def update(self, **kwargs) -> int:
        prefixes = list(self.values_list("prefix", flat=True))
        updated = super().update(**kwargs)
        keys_cache_clear(prefixes)
        return updated

    def delete(self):
        prefixes = list(self.values_list("prefix", flat=True))
        deleted = super().delete()
        keys_cache_clear(prefixes)
        return deleted


class IntegrationKeyManager(BaseAPIKeyManager.from_queryset(IntegrationKeyQuerySet)):
    def get_from_key(self, key: str) -> "IntegrationKey":
        """The usable (not revoked) key with this value, from the cache when it is there. The
        hash is checked on every call, cached row or not."""
        prefix = key.partition(".")[0]
        entry = key_cache_key(prefix)
        api_key = cache.get(entry)
        if api_key is None:
            api_key = self.get_usable_keys().get(prefix=prefix)
            cache.set(entry, api_key, KEY_CACHE_SECONDS)
        if api_key.revoked or not api_key.is_valid(key):
            raise self.model.DoesNotExist("Key is not valid.")
        return api_key


class IntegrationKey(AbstractAPIKey):
    """An API key of a gateway. Only a hash is stored; the key is shown once, at creation.
    Event ids are unique per `source`, so two gateways can both send an event "1"."""

    source = models.SlugField(
        max_length=100, help_text="Names the gateway; event ids are unique per source."
    )
    scopes = models.JSONField(default=default_scopes)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = IntegrationKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "integration API key"
        verbose_name_plural = "integration API keys"

    def __str__(self) -> str:
        return f"{self.name} ({self.source})"

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        keys_cache_clear([self.prefix])

    def delete(self, *args, **kwargs):
        deleted = super().delete(*args, **kwargs)
        keys_cache_clear([self.prefix])
        return deleted

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])
