"""Candidates, offers (the whole package and its state machine) and negotiation rounds.

State changes go through compensation.services; the state machine here only says which moves
are legal, and django-fsm-log records each one with who made it."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description
from simple_history.models import HistoricalRecords

from common.money import MicrosField, format_usd
from compensation import calculations
from compensation.calculations import TradeDirection
from compensation.currency import CURRENCY_CHOICES, USD
from compensation.models.policy import NOT_NEGATIVE, LevelBand, policy
from people.models import Employee, Level, Project, Team


class Candidate(models.Model):
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(unique=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["last_name", "first_name"]

    def __str__(self) -> str:
        return self.full_name

    def save(self, *args, **kwargs):
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class OfferState(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    SENT = "sent", "Sent"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    COUNTERED = "countered", "Countered"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"


EDITABLE_STATES = (OfferState.DRAFT, OfferState.COUNTERED)
CLOSED_STATES = (
    OfferState.ACCEPTED,
    OfferState.DECLINED,
    OfferState.WITHDRAWN,
    OfferState.EXPIRED,
)
# An approved package: its letter is the offer itself; before, a letter is a marked draft.
APPROVED_STATES = (OfferState.APPROVED, OfferState.SENT, OfferState.ACCEPTED)


class HealthPlan(models.TextChoices):
    NONE = "none", "None"
    BASIC = "basic", "Basic"
    STANDARD = "standard", "Standard"
    PREMIUM = "premium", "Premium"


class RemotePolicy(models.TextChoices):
    ONSITE = "onsite", "On site"
    HYBRID = "hybrid", "Hybrid"
    REMOTE = "remote", "Remote"


class AllocationBasis(models.TextChoices):
    SENIORITY = "seniority", "Seniority band"
    PROJECT = "project", "Project impact"
    BOTH = "both", "Seniority and project impact"


class TradeChoice(models.TextChoices):
    NONE = TradeDirection.NONE, "No trade"
    STOCK_TO_TOKENS = TradeDirection.STOCK_TO_TOKENS, "Stock value → token budget"
    TOKENS_TO_STOCK = TradeDirection.TOKENS_TO_STOCK, "Token budget → stock value"


# The package fields, in the order the rounds' side-by-side table shows them.
PACKAGE_FIELDS = [
    "position_title",
    "level_id",
    "team_id",
    "start_date",
    "base_salary_micros",
    "stock_option_count",
    "stock_strike_price_micros",
    "stock_annual_value_micros",
    "sign_on_bonus_micros",
    "health_plan",
    "health_plan_cost_micros",
    "match_401k_percent",
    "remote_policy",
    "professional_development_micros",
    "token_budget_micros",
    "allocation_basis",
    "allocation_project_id",
    "trade_direction",
    "trade_amount_micros",
    "trade_rate",
    "currency",
]


class Offer(models.Model):
    candidate = models.ForeignKey(Candidate, on_delete=models.PROTECT, related_name="offers")
    position_title = models.CharField(max_length=200)
    level = models.ForeignKey(Level, on_delete=models.PROTECT, related_name="offers")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="offers")
    hiring_manager = models.ForeignKey(
        Employee, on_delete=models.PROTECT, related_name="offers_as_hiring_manager"
    )
    start_date = models.DateField()
    # The package.
    base_salary_micros = MicrosField("base salary (USD/year)", validators=NOT_NEGATIVE)
    stock_option_count = models.PositiveIntegerField("stock options", default=0)
    stock_strike_price_micros = MicrosField(
        "strike price (USD)", default=0, validators=NOT_NEGATIVE
    )
    stock_annual_value_micros = MicrosField(
        "stock annualised value (USD/year)",
        default=0,
        validators=NOT_NEGATIVE,
        help_text="Before any trade for token budget.",
    )
    sign_on_bonus_micros = MicrosField("sign-on bonus (USD)", default=0, validators=NOT_NEGATIVE)
    health_plan = models.CharField(
        max_length=20, choices=HealthPlan.choices, default=HealthPlan.STANDARD
    )
    health_plan_cost_micros = MicrosField(
        "health plan, employer's cost (USD/year)", default=0, validators=NOT_NEGATIVE
    )
    match_401k_percent = models.DecimalField(
        "401(k) match (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    remote_policy = models.CharField(
        max_length=20, choices=RemotePolicy.choices, default=RemotePolicy.HYBRID
    )
    professional_development_micros = MicrosField(
        "professional development budget (USD/year)", default=0, validators=NOT_NEGATIVE
    )
    token_budget_micros = MicrosField(
        "annual token budget (USD)",
        null=True,
        blank=True,
        validators=NOT_NEGATIVE,
        help_text="Blank: the level band's target. Before any trade with stock value.",
    )
    allocation_basis = models.CharField(
        max_length=20, choices=AllocationBasis.choices, default=AllocationBasis.SENIORITY
    )
    allocation_project = models.ForeignKey(
        Project,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="offers",
        help_text="The project whose impact the budget is for (project impact or both).",
    )
    trade_direction = models.CharField(
        "trade", max_length=20, choices=TradeChoice.choices, default=TradeChoice.NONE, blank=True
    )
    trade_amount_micros = MicrosField(
        "amount traded (USD/year)",
        default=0,
        validators=NOT_NEGATIVE,
        help_text="What the candidate gives up, in dollars of the side given up.",
    )
    trade_rate = models.DecimalField(
        max_digits=6,
        decimal_places=4,
        null=True,
        blank=True,
        editable=False,
        help_text="The policy's rate when the trade was set (kept, so the offer does not move).",
    )
    currency = models.CharField(
        "letter's currency",
        max_length=3,
        choices=CURRENCY_CHOICES,
        default=USD,
        help_text="The cash lines are printed in it at finance's rate of the letter's day; "
        "amounts here stay in dollars, and the token budget is always in dollars.",
    )
    # The lifecycle.
    state = FSMField(default=OfferState.DRAFT, choices=OfferState.choices)
    round_number = models.PositiveSmallIntegerField(default=1, editable=False)
    response_deadline = models.DateField(null=True, blank=True)
    approval_request = models.OneToOneField(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        help_text="The current round's approval request.",
    )
    sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    employee = models.OneToOneField(
        Employee,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="offer",
        editable=False,
        help_text="Who the candidate became on acceptance.",
    )
    allocation_entry = models.OneToOneField(
        "budgets.LedgerEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="offer",
        editable=False,
        help_text="The first year's token budget allocation made on acceptance.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "response_deadline"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(base_salary_micros__gte=0) & Q(trade_amount_micros__gte=0),
                name="offer_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=~Q(state="accepted")
                | (Q(employee__isnull=False) & Q(allocation_entry__isnull=False)),
                name="offer_accepted_has_employee_and_allocation",
            ),
        ]

    def __str__(self) -> str:
        return f"Offer #{self.pk} to {self.candidate} ({self.position_title})"

    def clean(self) -> None:
        errors = {}
        needs_project = self.allocation_basis in (AllocationBasis.PROJECT, AllocationBasis.BOTH)
        if needs_project and not self.allocation_project_id:
            errors["allocation_project"] = "Name the project the token budget is for."
        if not needs_project and self.allocation_project_id:
            errors["allocation_project"] = "A project is named only for project impact."
        if self.trade_direction and not self.trade_amount_micros:
            errors["trade_amount_micros"] = "Say how much is traded, or choose no trade."
        if not self.trade_direction and self.trade_amount_micros:
            errors["trade_direction"] = "Choose which way the amount is traded."
        if self.hiring_manager_id and not self.hiring_manager.is_active:
            errors["hiring_manager"] = f"{self.hiring_manager} has left."
        if errors:
            raise ValidationError(errors)

    # The state machine: only compensation.services calls these, under a row lock.
    @fsm_log_by
    @fsm_log_description
    @transition(
        field=state,
        source=[OfferState.DRAFT, OfferState.COUNTERED],
        target=OfferState.PENDING_APPROVAL,
    )
    def submit(self, by=None, description=None) -> None:
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=OfferState.PENDING_APPROVAL, target=OfferState.APPROVED)
    def approve(self, by=None, description=None) -> None:
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=OfferState.PENDING_APPROVAL, target=OfferState.DRAFT)
    def reopen(self, by=None, description=None) -> None:
        """Back to draft after the approvers said no, to change the package and resubmit."""

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=OfferState.APPROVED, target=OfferState.SENT)
    def send(self, by=None, description=None) -> None:
        self.sent_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=OfferState.SENT, target=OfferState.ACCEPTED)
    def accept(self, by=None, description=None) -> None:
        self.closed_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=state, source=[OfferState.SENT, OfferState.COUNTERED], target=OfferState.DECLINED
    )
    def decline(self, by=None, description=None) -> None:
        self.closed_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=OfferState.SENT, target=OfferState.COUNTERED)
    def counter(self, by=None, description=None) -> None:
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=state,
        source=[
            OfferState.DRAFT,
            OfferState.PENDING_APPROVAL,
            OfferState.APPROVED,
            OfferState.SENT,
            OfferState.COUNTERED,
        ],
        target=OfferState.WITHDRAWN,
    )
    def withdraw(self, by=None, description=None) -> None:
        self.closed_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=OfferState.SENT, target=OfferState.EXPIRED)
    def expire(self, by=None, description=None) -> None:
        self.closed_at = timezone.now()

    # The package's numbers (pure calculations on the fields).
    @property
    def token_budget_offered_micros(self) -> int:
        """The token budget before any trade (the band's target when left blank)."""
        if self.token_budget_micros is not None:
            return self.token_budget_micros
        band = LevelBand.objects.filter(level_id=self.level_id).first()
        if band is not None:
            return band.token_budget_target_micros
        level = Level.objects.filter(pk=self.level_id).first()
        return level.default_annual_budget_micros if level else 0

    @property
    def trade(self) -> calculations.Trade:
        """The trade as saved (checked against the policy then): no policy read once saved."""
        return self.trade_checked(max_share_percent=Decimal("100"))

    def trade_checked(self, *, max_share_percent: Decimal | None = None) -> calculations.Trade:
        """The trade, checked against the policy's cap; raises TradeError when it breaks it.
        Without a saved rate the policy's rate of today applies."""
        rate = self.trade_rate
        rules = None
        if self.trade_direction and (rate is None or max_share_percent is None):
            rules = policy()
        if self.trade_direction and rate is None:
            rate = (
                rules.stock_to_token_rate
                if self.trade_direction == TradeDirection.STOCK_TO_TOKENS
                else rules.token_to_stock_rate
            )
        return calculations.trade_apply(
            stock_value_micros=self.stock_annual_value_micros,
            token_budget_micros=self.token_budget_offered_micros,
            direction=self.trade_direction,
            given_micros=self.trade_amount_micros,
            rate=rate if rate is not None else Decimal("1"),
            max_share_percent=(
                max_share_percent
                if max_share_percent is not None
                else rules.max_trade_percent
                if rules is not None
                else Decimal("100")
            ),
        )

    def lines(self) -> list[calculations.PackageLine]:
        trade = self.trade
        return calculations.package_lines(
            base_salary_micros=self.base_salary_micros,
            stock_value_micros=trade.stock_value_micros,
            sign_on_bonus_micros=self.sign_on_bonus_micros,
            health_plan_cost_micros=self.health_plan_cost_micros,
            match_401k_percent=self.match_401k_percent,
            professional_development_micros=self.professional_development_micros,
            token_budget_micros=trade.token_budget_micros,
        )

    @property
    def total_annual_value_micros(self) -> int:
        return calculations.package_total_micros(self.lines())

    @property
    def effective_token_budget_micros(self) -> int:
        return self.trade.token_budget_micros

    def band_checks(self) -> list[calculations.BandCheck]:
        band = LevelBand.objects.filter(level_id=self.level_id).first()
        if band is None:
            return []
        return [
            calculations.band_check(
                label="Base salary",
                value_micros=self.base_salary_micros,
                min_micros=band.base_salary_min_micros,
                max_micros=band.base_salary_max_micros,
            ),
            calculations.band_check(
                label="Token budget",
                value_micros=self.effective_token_budget_micros,
                min_micros=band.token_budget_min_micros,
                max_micros=band.token_budget_max_micros,
            ),
        ]

    def package_snapshot(self) -> dict:
        """The package as plain JSON values, for rounds (money stays integer micros)."""
        snapshot = {}
        for name in PACKAGE_FIELDS:
            value = getattr(self, name)
            if name == "token_budget_micros":
                value = self.token_budget_offered_micros
            snapshot[name] = (
                value.isoformat()
                if hasattr(value, "isoformat")
                else str(value)
                if isinstance(value, Decimal)
                else value
            )
        snapshot["effective_token_budget_micros"] = self.effective_token_budget_micros
        snapshot["total_annual_value_micros"] = self.total_annual_value_micros
        return snapshot

    @property
    def is_editable(self) -> bool:
        return self.state in EDITABLE_STATES

    @property
    def token_budget_display(self) -> str:
        return format_usd(self.effective_token_budget_micros)

    @property
    def total_annual_value_display(self) -> str:
        return format_usd(self.total_annual_value_micros)


class OfferRound(models.Model):
    """One version of the package put to the candidate. Round 1 is the first offer; each
    counter-offer opens the next round with what the candidate asked."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveSmallIntegerField()
    candidate_ask = models.TextField(
        blank=True, help_text='What the candidate asked, e.g. "$200k base and $200k tokens".'
    )
    package = models.JSONField(
        default=dict, blank=True, help_text="The package as submitted for approval."
    )
    reason = models.TextField(blank=True, help_text="Why the package is what it is.")
    outside_bands_micros = MicrosField(default=0)
    approval_request = models.ForeignKey(
        "approvals.ApprovalRequest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who gave the final approval.",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    sent_letter = models.OneToOneField(
        "OfferLetter", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["offer", "number"]
        constraints = [
            models.UniqueConstraint(fields=["offer", "number"], name="offer_round_unique_number"),
        ]

    def __str__(self) -> str:
        return f"Round {self.number} of offer #{self.offer_id}"
