"""The append-only ledger: every move of money is one entry."""

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone

from budgets.models.budget import Budget
from common.money import MicrosField, format_usd


class EntryKind(models.TextChoices):
    ALLOCATION = "allocation", "Allocation"
    USAGE = "usage", "Usage"
    ADJUSTMENT = "adjustment", "Adjustment"
    APPROVED_INCREASE = "approved_increase", "Approved increase"
    CARRYOVER_IN = "carryover_in", "Carryover in"
    CARRYOVER_OUT = "carryover_out", "Carryover out"
    FORFEITURE = "forfeiture", "Forfeiture"
    EXPIRY = "expiry", "Expiry"
    TRANSFER_IN = "transfer_in", "Transfer in"
    TRANSFER_OUT = "transfer_out", "Transfer out"
    USAGE_CORRECTION = "usage_correction", "Usage correction (repricing)"
    # This year's share of the difference a new level makes to the annual amount (either sign).
    LEVEL_CHANGE = "level_change", "Level change"


# Usage moves `spent`; every other kind moves `allocated`.
SPENT_KINDS = frozenset({EntryKind.USAGE, EntryKind.USAGE_CORRECTION})


class LedgerImmutableError(Exception):
    """Ledger entries are never changed or removed; corrections are new entries."""


class LedgerEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise LedgerImmutableError("Ledger entries cannot be updated; post a correcting entry.")

    def delete(self):
        raise LedgerImmutableError("Ledger entries cannot be deleted; post a correcting entry.")


class LedgerEntry(models.Model):
    # No index of its own: the (budget, kind) index below starts with it.
    budget = models.ForeignKey(
        Budget, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    kind = models.CharField(max_length=20, choices=EntryKind.choices)
    amount_micros = MicrosField(
        "amount (USD)", help_text="Signed: what this entry adds to allocated or to spent."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who posted it; empty for the system.",
    )
    memo = models.CharField(max_length=500, blank=True)
    idempotency_key = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="Replaying a request with the same key posts nothing new.",
    )
    counterpart = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="counterpart_of",
        help_text="On a transfer's incoming entry: the outgoing entry it pairs with.",
    )
    rollover_run = models.ForeignKey(
        "RolloverRun",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entries",
        help_text="The year-end rollover that posted it (carryover, forfeiture, allocation).",
    )
    # The accounting month it is posted in (first day, company zone): the month it happened in
    # unless that month was closed, then the next open month, with `late_for` naming the closed
    # one. Empty on entries from before months were closed: their month is that of created_at.
    period = models.DateField(null=True, blank=True, editable=False)
    late_for = models.DateField(
        null=True,
        blank=True,
        editable=False,
        help_text="Late: the closed month it happened in; it is posted in `period` instead.",
    )

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["budget", "kind"]), models.Index(fields=["period"])]
        # The database refuses too (PostgreSQL): no UPDATE or DELETE of an entry from any client,
        # raw SQL and other programs included. TRUNCATE, used only by test teardown, is not a row
        # operation and is untouched.
        triggers = [
            pgtrigger.Protect(
                name="ledger_append_only", operation=pgtrigger.Update | pgtrigger.Delete
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {format_usd(self.amount_micros)} on {self.budget}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise LedgerImmutableError("Ledger entries cannot be changed; post a correcting entry.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise LedgerImmutableError("Ledger entries cannot be deleted; post a correcting entry.")

    @property
    def amount_display(self) -> str:
        return format_usd(self.amount_micros)
