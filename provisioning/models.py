"""SCIM's own records: the bearer tokens an identity provider calls with, and the people it
sent before HR gave them a level (every employee has one: budgets start from it)."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

SCIM_PREFIX = "allot_scim_"


def token_digest(raw: str) -> str:
    """The stored form of a token: its SHA-256 (a token is 256 random bits, so no slow hash is
    needed against guessing; the database never holds the token itself)."""
    return hashlib.sha256(raw.encode()).hexdigest()


def token_new() -> str:
    return SCIM_PREFIX + secrets.token_urlsafe(32)


class ScimToken(models.Model):
    name = models.CharField(max_length=100, unique=True, help_text="Which provider calls with it.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="scim_tokens"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    history = HistoricalRecords(excluded_fields=["last_used_at"])

    class Meta:
        ordering = ["name"]
        verbose_name = "SCIM token"

    def __str__(self) -> str:
        return self.name


class ProvisionedPerson(models.Model):
    """A person the identity provider manages. Their sign-in is the SCIM user; until HR picks a
    level (every employee has one: budgets start from it) the person waits, with what the
    provider told us kept here. The manager it names is kept too, so that someone whose manager
    is still waiting gets them as manager when the manager becomes an employee. A SCIM DELETE
    hides them from SCIM and closes them as a leaver; no row is deleted."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="provisioned"
    )
    level_asked = models.CharField(
        max_length=100, blank=True, help_text="The level the provider sent, when none matched."
    )
    manager_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="manager",
        help_text="The manager the provider named; the employee's manager once both are.",
    )
    team = models.ForeignKey(
        "people.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_id = models.CharField(
        max_length=100, null=True, blank=True, unique=True, help_text="While they wait."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the provider deleted them (they stay, closed)."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["created_at"]
        verbose_name = "person waiting for a level"
        verbose_name_plural = "people waiting for a level"

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.email


class ProvisionedTeam(models.Model):
    """The provider's externalId of a team it manages."""

    team = models.OneToOneField("people.Team", on_delete=models.CASCADE, related_name="scim")
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.team} ({self.external_id})"
