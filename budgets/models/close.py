"""Finance's closed months: a closed month's ledger never changes, so its journal never does."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords


class MonthClose(models.Model):
    """One closed accounting month (the first day of the month, company zone).

    Entries for a closed month are posted in the next open month, marked late
    (`budgets.ledger.periods`). Reopening is asked for by one finance user and done by another
    (`budgets.closing`); the history keeps who closed and who reopened."""

    month = models.DateField(unique=True, help_text="The first day of the closed month.")
    closed_at = models.DateTimeField(default=timezone.now, editable=False)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who closed it; empty for the system.",
    )
    reopen_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who asked to reopen it; a different finance user must confirm.",
    )
    reopen_requested_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-month"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(month__day=1), name="month_close_first_of_month"
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} (closed)" if self.month else "closed month"
