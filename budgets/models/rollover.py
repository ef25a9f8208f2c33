"""Carryover policies and the annual rollover's runs and items."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from budgets.models.budget import Budget
from common.money import MicrosField
from people.models import Employee, Project, Team


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
    # Its worker was lost mid-run: the sweep queues it again within minutes, from where it was.
    INTERRUPTED = "interrupted", "Interrupted (resuming)"


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
    # Price indexing of the new allocations from levels, fixed by the preview so the commit (and
    # a resumed commit) posts what the preview showed (budgets.rollover.indexing).
    indexing_policy = models.CharField(max_length=10, blank=True)
    indexing_factor = models.DecimalField(
        max_digits=10,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="New allocation = the level's dollars x this; empty: 1 (previewed before "
        "indexing existed).",
    )
    effective_rate_closing = models.DecimalField(
        "closing year's effective rate (USD per 1M tokens)",
        max_digits=18,
        decimal_places=6,
        null=True,
        blank=True,
    )
    effective_rate_new = models.DecimalField(
        "new year's rate (USD per 1M tokens)",
        max_digits=18,
        decimal_places=6,
        null=True,
        blank=True,
    )
    indexing_note = models.CharField(max_length=400, blank=True)
    breakdown = models.JSONField(
        default=dict, blank=True, help_text="Preview totals per level, team pools and projects."
    )
    errors = models.JSONField(default=list, blank=True)
    resumes = models.PositiveSmallIntegerField(
        default=0, help_text="How many times a run whose worker was lost was queued again."
    )

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
    level_dollars_micros = MicrosField(
        "level's dollars (USD)",
        default=0,
        help_text="A person's allocation from their level before the run's indexing factor.",
    )
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
