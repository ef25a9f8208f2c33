"""The exchange rates finance keeps, one per currency and day, for offers in a candidate's
currency."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from compensation.currency import CURRENCY_CHOICES, USD


class ExchangeRate(models.Model):
    currency = models.CharField(max_length=3, choices=[c for c in CURRENCY_CHOICES if c[0] != USD])
    day = models.DateField(help_text="The day this rate is for (the company's zone).")
    units_per_usd = models.DecimalField(
        "units per US dollar",
        max_digits=20,
        decimal_places=8,
        validators=[MinValueValidator(0)],
        help_text="What one US dollar buys in this currency on the day, e.g. 0.92 for EUR.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-day", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "day"], name="exchange_rate_one_a_day"),
            models.CheckConstraint(condition=Q(units_per_usd__gt=0), name="exchange_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"1 USD = {self.units_per_usd.normalize():f} {self.currency} on {self.day:%Y-%m-%d}"
