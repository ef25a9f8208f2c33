"""One approval engine for every kind of ask: budget increases, project allocations, team pool
top-ups and (from the compensation app) offers. The chain comes from rules; each step's approver
is resolved at submission; decisions are audited; the effect runs on the final approval."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_fsm import FSMField, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description
from simple_history.models import HistoricalRecords

from common.money import MicrosField, format_usd
from people.models import Employee, Project, Team


class RequestKind(models.TextChoices):
    INCREASE = "increase", "Budget increase"
    PROJECT_ALLOCATION = "project_allocation", "Project allocation"
    TEAM_TOPUP = "team_topup", "Team pool top-up"
    OFFER = "offer", "Offer"
    LEDGER_ENTRY = "ledger_entry", "Manual ledger entry"
    PERMANENT_INCREASE = "permanent_increase", "Permanent increase (agreed annual budget)"
    TRANSFER = "transfer", "Transfer between budgets"
    # Made by people.level_changes (never from the request form): this year's prorated
    # difference of a new level, posted on approval (a decrease too: its amount is its size).
    LEVEL_CHANGE = "level_change", "Level change (this year's difference)"


# Kinds whose requests carry what only HR may read (an offer's whole package): seen by HR, the
# people the subject's app names (the hiring manager) and the approvers whose step it is.
HR_KINDS = frozenset({RequestKind.OFFER})

# Kinds that add money to one person's budget (the request names whose).
KINDS_FOR_A_PERSON = frozenset(
    {RequestKind.INCREASE, RequestKind.PERMANENT_INCREASE, RequestKind.LEVEL_CHANGE}
)

# Kinds a rule may approve on its own (small budget asks). Never an offer, nor a manual ledger
# entry (its second pair of eyes is the point).
AUTO_APPROVABLE_KINDS = frozenset(
    {
        RequestKind.INCREASE,
        RequestKind.PERMANENT_INCREASE,
        RequestKind.PROJECT_ALLOCATION,
        RequestKind.TEAM_TOPUP,
    }
)


class StepRole(models.TextChoices):
    MANAGER = "manager", "Manager"
    SKIP_LEVEL = "skip_level", "Skip-level manager"
    DEPARTMENT_HEAD = "department_head", "Department head"
    FINANCE = "finance", "Finance"
    HR = "hr", "HR"
    # The step an auto-approving rule records: decided by the rule, not by a person.
    RULE = "rule", "Approved by rule"
    # A transfer's budget owner (the person, the team's lead, the project's lead), added by
    # the engine for each side.
    OWNER = "owner", "Budget owner"


CHAIN_ROLES = [role for role in StepRole.values if role not in (StepRole.RULE, StepRole.OWNER)]


def validate_steps(value) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError('Give at least one step, e.g. ["manager", "finance"].')
    for role in value:
        if role not in CHAIN_ROLES:
            raise ValidationError(f"{role!r} is not a step; use {', '.join(CHAIN_ROLES)}.")


class ApprovalRule(models.Model):
    """For a kind of request up to an amount, the steps in order. The rule with the smallest
    ceiling at or above the amount applies; an empty ceiling means "any amount"."""

    kind = models.CharField(max_length=20, choices=RequestKind.choices)
    max_amount_micros = MicrosField(
        "up to (USD)", null=True, blank=True, help_text="Blank: no upper bound."
    )
    steps = models.JSONField(
        validators=[validate_steps],
        help_text='e.g. ["manager", "finance"]. For an auto-approving rule: the chain once the '
        "person's yearly cap is used up.",
    )
    auto_approve = models.BooleanField(
        "approves on its own",
        default=False,
        help_text="Requests up to this rule's amount are approved by the rule, while the person's "
        "auto-approved total this year stays within the yearly cap.",
    )
    yearly_cap_micros = MicrosField(
        "auto-approved per person per year (USD)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Auto-approving rules: the most this rule approves for one person in a fiscal "
        "year, across their requests of this kind.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["kind", models.F("max_amount_micros").asc(nulls_last=True)]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "max_amount_micros"], name="approval_rule_one_per_ceiling"
            ),
            models.CheckConstraint(
                condition=Q(auto_approve=False)
                | Q(max_amount_micros__isnull=False, yearly_cap_micros__isnull=False),
                name="approval_rule_auto_has_caps",
            ),
        ]

    def __str__(self) -> str:
        ceiling = (
            "any amount"
            if self.max_amount_micros is None
            else (f"up to {format_usd(self.max_amount_micros)}")
        )
        if self.auto_approve:
            cap = format_usd(self.yearly_cap_micros or 0)
            return (
                f"{self.get_kind_display()} {ceiling}: approved by the rule (at most {cap} "
                f"a person a year; then {' → '.join(self.steps)})"
            )
        return f"{self.get_kind_display()} {ceiling}: {' → '.join(self.steps)}"

    def clean(self) -> None:
        if not self.auto_approve:
            return
        if self.kind not in AUTO_APPROVABLE_KINDS:
            raise ValidationError({"auto_approve": "This kind of request always needs a person."})
        if self.max_amount_micros is None:
            raise ValidationError(
                {"max_amount_micros": "An auto-approving rule needs its per-request ceiling."}
            )
        if self.yearly_cap_micros is None:
            raise ValidationError(
                {"yearly_cap_micros": "An auto-approving rule needs its yearly cap per person."}
            )


class RequestState(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    EXPIRED = "expired", "Expired"


OPEN_STATES = (RequestState.IN_REVIEW,)


class ApprovalRequest(models.Model):
    kind = models.CharField(max_length=20, choices=RequestKind.choices)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approval_requests"
    )
    employee = models.ForeignKey(
        Employee,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="approval_requests",
        help_text="For an increase: whose budget. Otherwise the person asking.",
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.PROTECT)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.PROTECT)
    amount_micros = MicrosField("amount (USD)", validators=[MinValueValidator(1)])
    fiscal_year = models.PositiveSmallIntegerField()
    reason = models.TextField()
    until = models.DateField(
        null=True, blank=True, help_text="Expires unanswered after this day (the ask's end date)."
    )
    details = models.JSONField(default=dict, blank=True)
    state = FSMField(default=RequestState.DRAFT, choices=RequestState.choices)
    current_step = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    decided_at = models.DateTimeField(null=True, blank=True)
    # What is being approved when it is not a budget ask (an offer, from compensation).
    subject_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    subject_id = models.PositiveBigIntegerField(null=True, blank=True)
    subject = GenericForeignKey("subject_type", "subject_id")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "kind"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_micros__gt=0), name="request_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        if self.kind == RequestKind.OFFER and self.subject_id:
            # "Offer #N" is the offer's number everywhere; the request has its own.
            return (
                f"Offer #{self.subject_id} (request #{self.pk}): {format_usd(self.amount_micros)}"
            )
        return f"{self.get_kind_display()} #{self.pk}: {self.amount_display}"

    def get_absolute_url(self) -> str:
        return reverse("approvals:detail", args=[self.pk])

    @property
    def for_label(self) -> str:
        """Whom the request is for, as the lists show it: the budget's owner or the candidate."""
        owner = self.employee or self.team or self.project
        if owner is None and self.kind == RequestKind.OFFER and self.subject is not None:
            return str(getattr(self.subject, "candidate", "")) or "–"
        return str(owner) if owner is not None else "–"

    # The state machine. Transitions are called only by approvals.services, which records the
    # decision rows and runs the effect in the same transaction; django-fsm-log audits each.
    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=RequestState.DRAFT, target=RequestState.IN_REVIEW)
    def submit(self, by=None, description=None) -> None:
        pass

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=RequestState.IN_REVIEW, target=RequestState.APPROVED)
    def approve(self, by=None, description=None) -> None:
        self.decided_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=RequestState.IN_REVIEW, target=RequestState.REJECTED)
    def reject(self, by=None, description=None) -> None:
        self.decided_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(
        field=state,
        source=[RequestState.DRAFT, RequestState.IN_REVIEW],
        target=RequestState.WITHDRAWN,
    )
    def withdraw(self, by=None, description=None) -> None:
        self.decided_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(field=state, source=RequestState.IN_REVIEW, target=RequestState.EXPIRED)
    def expire(self, by=None, description=None) -> None:
        self.decided_at = timezone.now()

    @property
    def amount_display(self) -> str:
        """The amount asked, signed for a level change that takes money back."""
        taken_back = self.kind == RequestKind.LEVEL_CHANGE and (
            (self.details or {}).get("share_micros", 0) < 0
        )
        return f"{'−' if taken_back else ''}{format_usd(self.amount_micros)}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class StepState(models.TextChoices):
    WAITING = "waiting", "Waiting"
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    SKIPPED = "skipped", "Skipped"


class ApprovalStep(models.Model):
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveSmallIntegerField()
    role = models.CharField(max_length=20, choices=StepRole.choices)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="approval_steps",
        help_text="Empty for a group step (anyone in Finance or HR may decide).",
    )
    escalated_from = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=10, choices=StepState.choices, default=StepState.WAITING)
    assigned_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["request", "index"]
        constraints = [
            models.UniqueConstraint(fields=["request", "index"], name="approval_step_unique_index"),
        ]
        indexes = [models.Index(fields=["approver", "state"])]

    def __str__(self) -> str:
        return f"step {self.index + 1} ({self.get_role_display()}) of {self.request}"

    @property
    def decision_label(self) -> str:
        if self.role == StepRole.RULE:
            return "approved by the rule"
        if not self.decided_by:
            return ""
        verb = "approved" if self.state == StepState.APPROVED else "rejected"
        who = self.decided_by.get_full_name() or self.decided_by.get_username()
        if self.on_behalf_of:
            behalf = self.on_behalf_of.get_full_name() or self.on_behalf_of.get_username()
            return f"{verb} by {who} on behalf of {behalf}"
        return f"{verb} by {who}"


class Delegation(models.Model):
    """While away, an approver's requests go to someone else for a date range."""

    delegator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations_given"
    )
    delegate = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations_received"
    )
    starts_on = models.DateField()
    ends_on = models.DateField()
    reason = models.CharField(max_length=200, blank=True)
    ended_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Ended early: from then on, no power."
    )
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["-starts_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")), name="delegation_dates_in_order"
            ),
            models.CheckConstraint(
                condition=~Q(delegator=models.F("delegate")), name="delegation_not_to_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.delegator} → {self.delegate} ({self.starts_on} to {self.ends_on})"
