"""Budgets, their append-only ledger, token prices and usage events.

Every amount is integer micro-dollars (see common.money). A budget's running totals are kept on
the row and moved in the same transaction as each ledger entry, so a balance is one row read.
"""

import uuid
from decimal import Decimal

import pgtrigger
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey
from simple_history.models import HistoricalRecords

from budgets.calculations import limit_micros
from common.money import MicrosField, format_usd
from people.models import Employee, Project, Team, validate_thresholds


class Enforcement(models.TextChoices):
    HARD = "hard", "Hard"
    SOFT = "soft", "Soft"
    HARD_OVERDRAFT = "hard_overdraft", "Hard with overdraft"


class OwnerKind(models.TextChoices):
    EMPLOYEE = "employee", "Personal"
    TEAM = "team", "Team pool"
    PROJECT = "project", "Project allocation"


class Budget(models.Model):
    employee = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.PROTECT, related_name="budgets"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="budgets"
    )
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.PROTECT, related_name="budgets"
    )
    fiscal_year = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(2000), MaxValueValidator(2200)]
    )
    enforcement = models.CharField(
        max_length=20,
        choices=Enforcement.choices,
        default=Enforcement.SOFT,
        help_text="Hard: authorize denies past the limit. Soft: allows and warns. "
        "Hard with overdraft: denies past the limit plus the overdraft.",
    )
    overdraft_percent = models.DecimalField(
        "overdraft (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="With 'hard with overdraft': how far past the limit spending may go.",
    )
    alert_thresholds = models.JSONField(
        null=True,
        blank=True,
        validators=[validate_thresholds],
        help_text="Percentages; blank for the company default.",
    )
    # Running totals: written only by budgets.services, in the transaction of each ledger entry.
    allocated_micros = MicrosField("allocated (USD)", default=0, editable=False)
    spent_micros = MicrosField("spent (USD)", default=0, editable=False)
    reserved_micros = MicrosField(
        "reserved (USD)",
        default=0,
        editable=False,
        help_text="Held by open reservations: counts as spent for authorize, not in the ledger.",
    )
    remaining_micros = models.GeneratedField(
        expression=F("allocated_micros") - F("spent_micros") - F("reserved_micros"),
        output_field=models.BigIntegerField(),
        db_persist=True,
        verbose_name="remaining (USD)",
    )
    # Carried over from last year by the rollover; spending draws it first, so what is left of
    # it on the expiry date is max(0, carried - spent before that date).
    carried_over_micros = MicrosField("carried over (USD)", default=0, editable=False)
    carryover_expires_on = models.DateField(
        null=True, blank=True, editable=False, help_text="Unspent carried-over money expires then."
    )
    carryover_expired_on = models.DateField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(
        excluded_fields=[
            "allocated_micros",
            "spent_micros",
            "reserved_micros",
            "remaining_micros",
            "carried_over_micros",
            "carryover_expires_on",
            "carryover_expired_on",
        ]
    )

    class Meta:
        ordering = ["-fiscal_year", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(employee__isnull=False, team__isnull=True, project__isnull=True)
                    | Q(employee__isnull=True, team__isnull=False, project__isnull=True)
                    | Q(employee__isnull=True, team__isnull=True, project__isnull=False)
                ),
                name="budget_exactly_one_owner",
            ),
            models.UniqueConstraint(
                fields=["employee", "fiscal_year"],
                condition=Q(employee__isnull=False),
                name="budget_one_per_employee_year",
            ),
            models.UniqueConstraint(
                fields=["team", "fiscal_year"],
                condition=Q(team__isnull=False),
                name="budget_one_per_team_year",
            ),
            models.UniqueConstraint(
                fields=["project", "fiscal_year"],
                condition=Q(project__isnull=False),
                name="budget_one_per_project_year",
            ),
        ]
        indexes = [models.Index(fields=["fiscal_year", "employee"])]

    def __str__(self) -> str:
        return f"{self.owner_label} FY{self.fiscal_year}"

    def clean(self) -> None:
        owners = [o for o in (self.employee_id, self.team_id, self.project_id) if o]
        if len(owners) != 1:
            raise ValidationError(
                "A budget has exactly one owner: an employee, a team or a project."
            )
        if self.enforcement != Enforcement.HARD_OVERDRAFT and self.overdraft_percent:
            raise ValidationError(
                {"overdraft_percent": "An overdraft applies only to 'hard with overdraft'."}
            )

    @property
    def owner_kind(self) -> str:
        if self.employee_id:
            return OwnerKind.EMPLOYEE
        if self.team_id:
            return OwnerKind.TEAM
        return OwnerKind.PROJECT

    @property
    def owner(self) -> Employee | Team | Project:
        return self.employee or self.team or self.project

    @property
    def owner_label(self) -> str:
        return f"{OwnerKind(self.owner_kind).label}: {self.owner}"

    @property
    def limit_micros(self) -> int | None:
        """Most that may be committed (spent + reserved) under a hard limit; None when soft."""
        return limit_micros(
            enforcement=self.enforcement,
            allocated_micros=self.allocated_micros,
            overdraft_percent=self.overdraft_percent,
        )

    # What a budget's owner decided about it, which the next year's budget starts from.
    RULES = ("enforcement", "overdraft_percent", "alert_thresholds")

    def thresholds(self, company_default: list[int]) -> list[int]:
        return self.alert_thresholds or company_default


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

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["budget", "kind"])]
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
        ]
        indexes = [
            models.Index(fields=["employee", "occurred_at"]),
            models.Index(fields=["budget", "occurred_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.event_id}"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cached_input_tokens


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


class ReservationState(models.TextChoices):
    HELD = "held", "Held"
    SETTLED = "settled", "Settled"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class Reservation(models.Model):
    """An estimate held against a budget by authorize; a usage event settles it, or it expires."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    budget = models.ForeignKey(Budget, on_delete=models.PROTECT, related_name="reservations")
    employee = models.ForeignKey(Employee, on_delete=models.PROTECT, related_name="reservations")
    amount_micros = MicrosField("held (USD)")
    state = models.CharField(
        max_length=10, choices=ReservationState.choices, default=ReservationState.HELD
    )
    source = models.CharField(max_length=100, blank=True)
    request_id = models.CharField(
        max_length=100, blank=True, help_text="The caller's id: a retried authorize holds once."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_micros__gt=0), name="reservation_amount_positive"
            ),
            models.UniqueConstraint(
                fields=["source", "request_id"],
                condition=~Q(request_id=""),
                name="reservation_once_per_request_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{format_usd(self.amount_micros)} on {self.budget} ({self.state})"


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


class AlertKind(models.TextChoices):
    THRESHOLD = "threshold", "Threshold reached"
    PROJECTED = "projected", "Projected to run out"


class AlertClaim(models.Model):
    """One row per alert that fired: the unique constraint makes each fire once per budget, even
    with several workers checking at the same time. Budgets are per fiscal year, so is this."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    threshold = models.PositiveSmallIntegerField(
        default=0, help_text="Percent for threshold alerts; 0 for projections."
    )
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "kind", "threshold"], name="alert_fires_once"
            ),
        ]

    def __str__(self) -> str:
        return self.message


class Notification(models.Model):
    """What the web app shows a person (their alerts); email carries the same text."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    alert = models.ForeignKey(
        AlertClaim, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "alert"], name="notification_once_per_user"),
        ]

    def __str__(self) -> str:
        return self.message


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


class CarryoverAppliesTo(models.TextChoices):
    PERSONAL = "personal", "Personal budgets"
    TEAM_POOL = "team_pool", "Team pools"
    PROJECT = "project", "Project allocations"


class CarryoverPolicy(models.Model):
    """An override of the company's carryover rule (people.CompanySettings), for the personal
    budgets of one level or one team, for team pools, or for project allocations.

    Blank fields inherit. For a personal budget the team's rule wins over the level's, which wins
    over a company-wide row, which wins over the company settings. Team pools carry nothing and
    running projects carry everything unless a rule says otherwise; ended projects always end."""

    applies_to = models.CharField(
        max_length=20, choices=CarryoverAppliesTo.choices, default=CarryoverAppliesTo.PERSONAL
    )
    level = models.ForeignKey(
        "people.Level",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="carryover_policies",
        help_text="Personal budgets of this level only.",
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="carryover_policies",
        help_text="This team's members (personal) or this team's pool.",
    )
    share_percent = models.DecimalField(
        "carryover share (%)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Share of the unused budget that carries over; blank to inherit.",
    )
    cap_micros = MicrosField(
        "cap (USD)",
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Most that carries over per budget; blank to inherit.",
    )
    cap_percent_of_allocation = models.DecimalField(
        "cap (% of next year's allocation)",
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(1000)],
        help_text="Most that carries over as a share of next year's allocation; blank for none.",
    )
    expiry_months = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(12)],
        help_text="Carried-over money expires this many months in (0 = never); blank to inherit.",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "carryover policies"
        ordering = ["applies_to", "level__rank", "team__name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(level__isnull=True) | Q(team__isnull=True),
                name="carryover_policy_level_or_team",
            ),
            models.CheckConstraint(
                condition=Q(applies_to="personal") | Q(level__isnull=True),
                name="carryover_policy_level_only_personal",
            ),
            models.CheckConstraint(
                condition=~Q(applies_to="project") | Q(team__isnull=True),
                name="carryover_policy_project_company_wide",
            ),
            models.UniqueConstraint(
                fields=["applies_to", "level"],
                condition=Q(level__isnull=False),
                name="carryover_policy_one_per_level",
            ),
            models.UniqueConstraint(
                fields=["applies_to", "team"],
                condition=Q(team__isnull=False),
                name="carryover_policy_one_per_team",
            ),
            models.UniqueConstraint(
                fields=["applies_to"],
                condition=Q(level__isnull=True, team__isnull=True),
                name="carryover_policy_one_company_wide",
            ),
        ]

    def __str__(self) -> str:
        scope = (
            f"level {self.level}"
            if self.level_id
            else f"team {self.team}"
            if self.team_id
            else "company-wide"
        )
        return f"{self.get_applies_to_display()}, {scope}"

    def clean(self) -> None:
        if self.level_id and self.applies_to != CarryoverAppliesTo.PERSONAL:
            raise ValidationError({"level": "Only personal budgets have a level."})
        if self.level_id and self.team_id:
            raise ValidationError("A rule is for one level or one team, not both.")
        if self.team_id and self.applies_to == CarryoverAppliesTo.PROJECT:
            raise ValidationError({"team": "Project rules are company-wide."})


class RolloverState(models.TextChoices):
    PREVIEWED = "previewed", "Previewed (waiting for confirmation)"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (resumable)"


class RolloverRun(models.Model):
    """The close of one fiscal year into the next: one per year. The preview fills the counts and
    totals; committing moves the money in chunks, each chunk one transaction with its items."""

    fiscal_year = models.PositiveSmallIntegerField(
        "fiscal year closed",
        unique=True,
        validators=[MinValueValidator(2000), MaxValueValidator(2199)],
        help_text="The year being closed; budgets move into the next one.",
    )
    state = models.CharField(
        max_length=20, choices=RolloverState.choices, default=RolloverState.PREVIEWED
    )
    previewed_at = models.DateTimeField(null=True, blank=True)
    previewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who committed it; empty when the company rolls over automatically.",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last chunk was committed."
    )
    # What the preview expects (counts and totals over every owner).
    owners_total = models.PositiveIntegerField(default=0)
    unused_micros = MicrosField("unused (USD)", default=0)
    carried_micros = MicrosField("carried over (USD)", default=0)
    forfeited_micros = MicrosField("forfeited (USD)", default=0)
    allocated_micros = MicrosField("new allocations (USD)", default=0)
    # What the commit has done so far (moved in each chunk's transaction).
    owners_done = models.PositiveIntegerField(default=0)
    done_unused_micros = MicrosField(default=0)
    done_carried_micros = MicrosField(default=0)
    done_forfeited_micros = MicrosField(default=0)
    done_allocated_micros = MicrosField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    reference_rate_before = models.DecimalField(
        max_digits=14, decimal_places=12, null=True, blank=True
    )
    reference_rate_after = models.DecimalField(
        max_digits=14, decimal_places=12, null=True, blank=True
    )
    breakdown = models.JSONField(
        default=dict, blank=True, help_text="Preview totals per level, team pools and projects."
    )
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-fiscal_year"]

    def __str__(self) -> str:
        return f"Rollover FY{self.fiscal_year} \u2192 FY{self.fiscal_year + 1} ({self.state})"

    @property
    def next_fiscal_year(self) -> int:
        return self.fiscal_year + 1

    def is_stalled(self, now, *, after_seconds: int = 600) -> bool:
        """Running, but no chunk committed for a while: its worker probably died."""
        last = self.heartbeat_at or self.started_at
        return (
            self.state == RolloverState.RUNNING
            and last is not None
            and (now - last).total_seconds() > after_seconds
        )

    @property
    def progress_percent(self) -> int:
        if self.state == RolloverState.DONE:
            return 100
        if not self.owners_total:
            return 0
        return min(100, self.owners_done * 100 // self.owners_total)


class RolloverItem(models.Model):
    """What the rollover did for one owner. Written in the chunk's transaction with its ledger
    entries: the unique (run, owner) row makes a second application impossible."""

    run = models.ForeignKey(RolloverRun, on_delete=models.PROTECT, related_name="items")
    owner_key = models.CharField(max_length=40, help_text="employee:ID, team:ID or project:ID.")
    employee = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    source_budget = models.ForeignKey(
        Budget, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    target_budget = models.ForeignKey(
        Budget, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.CharField(max_length=40)
    unused_micros = MicrosField(default=0)
    carried_micros = MicrosField(default=0)
    forfeited_micros = MicrosField(default=0)
    allocated_micros = MicrosField(default=0)
    hold_forfeited_micros = MicrosField(
        default=0,
        db_default=0,  # the chunks COPY their items without this column
        help_text=(
            "Forfeited later: money reservation holds gave back to the closed budget after the "
            "close (budgets.rollover.holds). Not part of unused = carried + forfeited, which is "
            "what the close itself split."
        ),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["run", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "owner_key"], name="rollover_once_per_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.run}: {self.owner_key}"
