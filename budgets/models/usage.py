"""Token prices, usage events, their daily sums and price corrections."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from budgets.models.budget import Budget
from budgets.models.ledger import LedgerEntry
from common.money import MicrosField, format_usd
from people.models import Employee, Project


class TokenPrice(models.Model):
    """Dollars per million tokens for one model, in force from `effective_from` until the next."""

    model_name = models.CharField("model", max_length=100, db_index=True)
    input_per_million_micros = MicrosField(
        "input (USD per 1M tokens)", validators=[MinValueValidator(0)]
    )
    output_per_million_micros = MicrosField(
        "output (USD per 1M tokens)", validators=[MinValueValidator(0)]
    )
    cached_input_per_million_micros = MicrosField(
        "cached input (USD per 1M tokens)", default=0, validators=[MinValueValidator(0)]
    )
    # empty: the provider's documented multiple of the input rate (budgets.calculations)
    cache_write_per_million_micros = MicrosField(
        "cache write, 5 minutes (USD per 1M tokens)",
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Empty: 1.25 times the input price (Anthropic's 5-minute cache write).",
    )
    cache_write_1h_per_million_micros = MicrosField(
        "cache write, 1 hour (USD per 1M tokens)",
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Empty: 2 times the input price (Anthropic's 1-hour cache write).",
    )
    effective_from = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["model_name", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_name", "effective_from"], name="token_price_unique_from"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_name} from {self.effective_from:%Y-%m-%d}"


class UsageCategory(models.TextChoices):
    CODE_GENERATION = "code_generation", "Code generation"
    CODE_REVIEW = "code_review", "Code review"
    TESTING = "testing", "Testing"
    DEBUGGING = "debugging", "Debugging"
    DOCUMENTATION = "documentation", "Documentation"
    DESIGN = "design", "Design"
    LEARNING = "learning", "Learning"
    OPERATIONS = "operations", "Operations"
    OTHER = "other", "Other"


class UsageEvent(models.Model):
    """What a gateway reported after a call; its cost is the usage ledger entry it points at."""

    source = models.CharField(max_length=100, default="default")
    event_id = models.CharField(max_length=200)
    # The (employee, occurred_at) and (budget, occurred_at) indexes start with these columns, so
    # they need no single-column index of their own: one index fewer to write per event.
    employee = models.ForeignKey(
        Employee, on_delete=models.PROTECT, related_name="usage_events", db_index=False
    )
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.PROTECT, related_name="usage_events"
    )
    model_name = models.CharField("model", max_length=100)
    input_tokens = models.BigIntegerField(validators=[MinValueValidator(0)])
    output_tokens = models.BigIntegerField(validators=[MinValueValidator(0)])
    cached_input_tokens = models.BigIntegerField(default=0, validators=[MinValueValidator(0)])
    # tokens written to a prompt cache, priced apart from input (TokenPrice's cache-write rates)
    cache_write_tokens = models.BigIntegerField(
        "cache writes, 5 minutes", default=0, db_default=0, validators=[MinValueValidator(0)]
    )
    cache_write_1h_tokens = models.BigIntegerField(
        "cache writes, 1 hour", default=0, db_default=0, validators=[MinValueValidator(0)]
    )
    cost_micros = MicrosField("cost (USD)")
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    category = models.CharField(
        max_length=20, choices=UsageCategory.choices, default=UsageCategory.OTHER
    )
    metadata = models.JSONField(default=dict, blank=True)
    payload_hash = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the event as sent: tells replays apart."
    )
    reservation = models.OneToOneField(
        "Reservation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="settled_by",
    )
    price = models.ForeignKey(
        TokenPrice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="usage_events",
        help_text="The price version that priced it; empty when the gateway sent the cost.",
    )
    # Which budget paid: always its ledger entry's budget (ingest writes both from one payer;
    # tests/budgets/test_ingest_paths.py checks it). The database enforces the reference
    # through the entry, whose own foreign key keeps the budget from being deleted, so a second
    # constraint here would only check the same row again: at commit, once per event, about a
    # quarter of a batch's foreign-key work (docs/performance.md, "Issue 3, third session").
    budget = models.ForeignKey(
        Budget,
        on_delete=models.PROTECT,
        related_name="usage_events",
        help_text="Which budget paid.",
        db_index=False,
        db_constraint=False,
    )
    ledger_entry = models.OneToOneField(
        LedgerEntry, on_delete=models.PROTECT, related_name="usage_event"
    )

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "event_id"], name="usage_event_unique_id"),
            models.CheckConstraint(
                condition=Q(input_tokens__gte=0)
                & Q(output_tokens__gte=0)
                & Q(cached_input_tokens__gte=0),
                name="usage_event_tokens_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(cache_write_tokens__gte=0) & Q(cache_write_1h_tokens__gte=0),
                name="usage_event_cache_writes_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["employee", "occurred_at"]),
            models.Index(fields=["budget", "occurred_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.event_id}"

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cached_input_tokens
            + self.cache_write_tokens
            + self.cache_write_1h_tokens
        )


class DailySpend(models.Model):
    """Usage per budget per day (company zone), kept with each batch: burn rates and charts read
    a few rows, however many events there are."""

    # The unique (budget, day) index serves lookups by budget.
    budget = models.ForeignKey(
        Budget, on_delete=models.CASCADE, related_name="daily_spend", db_index=False
    )
    day = models.DateField()
    spent_micros = MicrosField(default=0)
    events = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["budget", "day"], name="daily_spend_unique_day"),
        ]

    def __str__(self) -> str:
        return f"{self.budget} {self.day}"


class PriceCorrection(models.Model):
    """A price fixed after it was already in force. The events it priced are re-priced by
    posting one usage-correction entry per budget; the events and earlier entries stay as they
    were."""

    price = models.ForeignKey(TokenPrice, on_delete=models.PROTECT, related_name="corrections")
    old_input_per_million_micros = MicrosField()
    old_output_per_million_micros = MicrosField()
    old_cached_input_per_million_micros = MicrosField()
    new_input_per_million_micros = MicrosField()
    new_output_per_million_micros = MicrosField()
    new_cached_input_per_million_micros = MicrosField()
    events_repriced = models.PositiveIntegerField()
    delta_micros = MicrosField("change in spend (USD)")
    reason = models.CharField(max_length=500)
    acting_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.price} corrected by {format_usd(self.delta_micros)}"


# -- the annual rollover ---------------------------------------------------------------------------
