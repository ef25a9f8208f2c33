"""The API keys gateways use."""

from django.db import models
from rest_framework_api_key.models import AbstractAPIKey


class ApiScope(models.TextChoices):
    INGEST = "ingest", "Push usage"
    AUTHORIZE = "authorize", "Authorize spending"
    READ_BALANCES = "read_balances", "Read balances"


def default_scopes() -> list[str]:
    return [ApiScope.INGEST, ApiScope.AUTHORIZE]


class IntegrationKey(AbstractAPIKey):
    """An API key of a gateway. Only a hash is stored; the key is shown once, at creation.
    Event ids are unique per `source`, so two gateways can both send an event "1"."""

    source = models.SlugField(
        max_length=100, help_text="Names the gateway; event ids are unique per source."
    )
    scopes = models.JSONField(default=default_scopes)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "integration API key"
        verbose_name_plural = "integration API keys"

    def __str__(self) -> str:
        return f"{self.name} ({self.source})"

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])
