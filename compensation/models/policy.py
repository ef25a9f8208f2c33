"""Each level's bands for base salary and token budget, and the compensation policy (the
exchange rates between stock value and token budget)."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from common.money import MicrosField
from people.models import Level

NOT_NEGATIVE = [MinValueValidator(0)]


class LevelBand(models.Model):
    """A level's bands for base salary and for the annual token budget. Offers outside them,
    or with a token budget over the level's maximum, need approval above the hiring manager."""

    level = models.OneToOneField(Level, on_delete=models.CASCADE, related_name="band")
    base_salary_min_micros = MicrosField("base salary min (USD)", validators=NOT_NEGATIVE)
    base_salary_target_micros = MicrosField("base salary target (USD)", validators=NOT_NEGATIVE)
    base_salary_max_micros = MicrosField("base salary max (USD)", validators=NOT_NEGATIVE)
    token_budget_min_micros = MicrosField("token budget min (USD)", validators=NOT_NEGATIVE)
    token_budget_target_micros = MicrosField(
        "token budget target (USD)",
        validators=NOT_NEGATIVE,
        help_text="A new offer's token budget starts here.",
    )
    token_budget_max_micros = MicrosField("token budget max (USD)", validators=NOT_NEGATIVE)
    history = HistoricalRecords()

    class Meta:
        ordering = ["level__rank"]
        constraints = [
            models.CheckConstraint(
                condition=Q(base_salary_min_micros__lte=F("base_salary_target_micros"))
                & Q(base_salary_target_micros__lte=F("base_salary_max_micros")),
                name="level_band_salary_in_order",
            ),
            models.CheckConstraint(
                condition=Q(token_budget_min_micros__lte=F("token_budget_target_micros"))
                & Q(token_budget_target_micros__lte=F("token_budget_max_micros")),
                name="level_band_tokens_in_order",
            ),
        ]

    def __str__(self) -> str:
        return f"Band of {self.level}"

    def clean(self) -> None:
        for name in ("base_salary", "token_budget"):
            low, mid, high = (getattr(self, f"{name}_{p}_micros") for p in ("min", "target", "max"))
            if None not in (low, mid, high) and not low <= mid <= high:
                raise ValidationError({f"{name}_target_micros": "Keep min ≤ target ≤ max."})


class CompensationPolicy(models.Model):
    """One row (pk=1): the exchange rates between stock value and token budget, how much may be
    traded, and how long a candidate has to answer. Read it with `policy()`."""

    stock_to_token_rate = models.DecimalField(
        "stock → tokens rate",
        max_digits=6,
        decimal_places=4,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text="Dollars of token budget per dollar of annual stock value given up.",
    )
    token_to_stock_rate = models.DecimalField(
        "tokens → stock rate",
        max_digits=6,
        decimal_places=4,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text="Dollars of annual stock value per dollar of token budget given up.",
    )
    max_trade_percent = models.DecimalField(
        "most tradeable (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("100"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Share of the side given up that a candidate may trade.",
    )
    response_days = models.PositiveSmallIntegerField(
        default=7, help_text="A sent offer's default response deadline, in days."
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = "compensation policy"
        verbose_name_plural = "compensation policy"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="compensation_policy_singleton"),
        ]

    def __str__(self) -> str:
        return "Compensation policy"

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    def clean(self) -> None:
        # A round trip must never create value: trading back and forth would otherwise pay.
        if (self.stock_to_token_rate or 0) * (self.token_to_stock_rate or 0) > 1:
            raise ValidationError(
                {
                    "token_to_stock_rate": "The two rates multiplied must be at most 1, or a "  # nosec B105
                    "round trip of trades would raise a package's value."
                }
            )


def policy() -> CompensationPolicy:
    row, _ = CompensationPolicy.objects.get_or_create(pk=1)
    return row
