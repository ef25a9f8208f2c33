"""The organisation everything else points at: levels, departments, teams, employees, projects,
and the company's settings (fiscal calendar, reference rate, transparency, carryover, alerts)."""

from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from common.money import MICROS_PER_DOLLAR, MicrosField, format_usd

DEFAULT_ALERT_THRESHOLDS = [50, 80, 90, 100]


def default_alert_thresholds() -> list[int]:
    return list(DEFAULT_ALERT_THRESHOLDS)


def validate_thresholds(value) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError("Give a list of percentages, e.g. [50, 80, 90, 100].")
    for item in value:
        if not isinstance(item, int) or isinstance(item, bool) or not 1 <= item <= 1000:
            raise ValidationError(f"{item!r} is not a whole percentage between 1 and 1000.")
    if sorted(set(value)) != value:
        raise ValidationError("Thresholds must be increasing and distinct.")


class Transparency(models.TextChoices):
    TRANSPARENT = "transparent", "Transparent (dollars and tokens)"
    TOKENS_ONLY = "tokens_only", "Tokens only"
    ABSTRACTED = "abstracted", "Abstracted (share of budget used)"


class Level(models.Model):
    name = models.CharField(max_length=40, unique=True)
    rank = models.PositiveSmallIntegerField(
        unique=True, help_text="Seniority order: a higher rank is more senior."
    )
    default_annual_budget_micros = MicrosField(
        "default annual budget (USD)", validators=[MinValueValidator(0)]
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name

    @property
    def default_annual_budget_display(self) -> str:
        return format_usd(self.default_annual_budget_micros)


class Department(models.Model):
    name = models.CharField(max_length=100, unique=True)
    head = models.ForeignKey(
        "Employee", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cost_centre = models.CharField(
        max_length=40,
        blank=True,
        help_text="Its cost centre code in the accounting system; the journal export books "
        "its teams' token spend there unless a team has its own.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    name = models.CharField(max_length=100)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="teams")
    lead = models.ForeignKey(
        "Employee", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    has_pool = models.BooleanField(
        "shared pool", default=False, help_text="The team holds a shared budget for joint work."
    )
    pool_overflow = models.BooleanField(
        "overflow to pool",
        default=False,
        help_text="Usage past a member's personal budget draws from the team pool.",
    )
    pool_annual_micros = MicrosField(
        "pool's standing annual amount (USD)",
        default=0,
        validators=[MinValueValidator(0)],
        help_text="Allocated to the pool at each rollover (with the pool's carryover rules).",
    )
    transparency = models.CharField(
        max_length=20,
        choices=Transparency.choices,
        blank=True,
        help_text="Leave blank to use the company default.",
    )
    cost_centre = models.CharField(
        max_length=40,
        blank=True,
        help_text="Its own cost centre code; blank books it to its department's.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["department__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["department", "name"], name="team_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Employee(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="employee"
    )
    level = models.ForeignKey(Level, on_delete=models.PROTECT, related_name="employees")
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    hire_date = models.DateField()
    left_on = models.DateField(null=True, blank=True, help_text="Last day, for leavers.")
    is_active = models.BooleanField("active", default=True)
    external_id = models.CharField(
        max_length=100, null=True, blank=True, unique=True, help_text="The HR system's id."
    )
    annual_budget_micros = MicrosField(
        "agreed annual token budget (USD)",
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Agreed at hire (the accepted offer) or later by HR; each year's allocation "
        "uses it. Empty: the level's default budget.",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["user__email"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(manager=models.F("id")), name="employee_not_own_manager"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def annual_budget_due_micros(self) -> int:
        """What each year's allocation starts from: the agreed amount, else the level's."""
        if self.annual_budget_micros is not None:
            return self.annual_budget_micros
        return self.level.default_annual_budget_micros

    @property
    def display_name(self) -> str:
        return self.user.get_full_name() or self.user.email or self.user.get_username()

    def clean(self) -> None:
        manager, seen = self.manager, set()
        while manager is not None:
            if manager.pk == self.pk or manager.pk in seen:
                raise ValidationError({"manager": "This would make a loop of managers."})
            seen.add(manager.pk)
            manager = manager.manager


class Project(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    lead = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.SET_NULL, related_name="led_projects"
    )
    members = models.ManyToManyField(Employee, blank=True, related_name="projects")
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    justification = models.TextField(blank=True)
    annual_micros = MicrosField(
        "standing annual amount (USD)",
        default=0,
        validators=[MinValueValidator(0)],
        help_text="Allocated at each rollover, prorated by the days the project runs in the year.",
    )
    history = HistoricalRecords(m2m_fields=[members])

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="project_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.name}"


class AllocationModel(models.TextChoices):
    SENIORITY = "seniority", "By seniority (level bands)"
    PROJECTS = "projects", "By project impact (project allocations only)"
    BOTH = "both", "Both (level bands and project allocations)"


class BudgetIndexing(models.TextChoices):
    """What a person's new-year allocation follows at the rollover when token prices move."""

    DOLLARS = "dollars", "Fixed in dollars (the same dollars buy more tokens as prices fall)"
    TOKENS = "tokens", "Fixed in tokens at the effective rate (dollars follow prices)"
    BLEND = "blend", "A blend of the two, by the blend weight"


DEFAULT_DELEGATION_MAX_DAYS = 90


class StandInRule(models.TextChoices):
    """Who may decide for an approver while they are away (HR's choice, in the settings)."""

    CHAIN = "chain", "Only someone above the approver in their management chain"
    MANAGERS_AT_LEVEL = (
        "managers_at_level",
        "A manager at the approver's level or above, or someone above them in the chain",
    )
    ANYONE_AT_LEVEL = (
        "anyone_at_level",
        "Anyone at the approver's level or above, or someone above them in the chain",
    )


class LevelChangePolicy(models.TextChoices):
    """What a level changed mid-year does to this year's budget (finance's and HR's choice)."""

    AUTOMATIC = "automatic", "Automatic: the prorated difference is posted at once"
    APPROVAL = "approval", "Through approval: the prorated difference is asked for"
    NEXT_YEAR = "next_year", "Next year only: nothing this year"


# Where people.selectors.company_settings keeps the row; saving the row clears it.
SETTINGS_CACHE_KEY = "allot:company-settings"


class CompanySettings(models.Model):
    """One row (pk=1): the company's calendar and policies. Read it with `company_settings()`."""

    name = models.CharField(max_length=200, default="Example Corp")
    fiscal_year_start_month = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    reference_rate_usd_per_token = models.DecimalField(
        "reference rate (USD per token)",
        max_digits=12,
        decimal_places=10,
        default=Decimal("0.0001"),
        validators=[MinValueValidator(Decimal("0.0000000001"))],
        help_text="Turns dollars into 'tokens left' on screens and letters.",
    )
    transparency_default = models.CharField(
        max_length=20, choices=Transparency.choices, default=Transparency.TRANSPARENT
    )
    carryover_share_percent = models.DecimalField(
        "carryover share (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("50"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Share of the unused personal budget carried into the next year.",
    )
    carryover_cap_micros = MicrosField(
        "carryover cap (USD)",
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Most that carries over per budget; blank for no cap.",
    )
    carryover_expiry_months = models.PositiveSmallIntegerField(
        default=3, help_text="Carried-over money expires this many months in (0 = never)."
    )
    alert_thresholds = models.JSONField(
        default=default_alert_thresholds,
        validators=[validate_thresholds],
        help_text="Percentages of a budget at which its owner is alerted.",
    )
    allocation_model = models.CharField(
        max_length=20,
        choices=AllocationModel.choices,
        default=AllocationModel.BOTH,
        help_text="What the annual rollover allocates: level budgets, project ones, or both.",
    )
    rollover_automatic = models.BooleanField(
        "automatic rollover",
        default=False,
        help_text="Commit the year-end rollover without waiting for finance to confirm.",
    )
    budget_indexing = models.CharField(
        "budget indexing",
        max_length=10,
        choices=BudgetIndexing.choices,
        default=BudgetIndexing.DOLLARS,
        help_text="What the rollover's new allocations from levels follow when token prices "
        "move between the closing year's effective rate and the new year's.",
    )
    indexing_blend_weight = models.DecimalField(
        "blend weight toward tokens (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("50"),
        validators=[
            MinValueValidator(0, "The blend weight is a share from 0 to 100 %%."),
            MaxValueValidator(100, "The blend weight is a share from 0 to 100 %%."),
        ],
        help_text="For a blend: 0 % is fixed in dollars, 100 % fixed in tokens.",
    )
    indexing_floor_pct = models.DecimalField(
        "indexing floor (% of the level's dollars)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[
            MinValueValidator(0, "The floor is from 0 to 100 %% of the level's dollars."),
            MaxValueValidator(100, "The floor is from 0 to 100 %% of the level's dollars."),
        ],
        help_text="A new allocation is never below this share of the level's dollars, e.g. 80; "
        "blank for no floor.",
    )
    indexing_cap_pct = models.DecimalField(
        "indexing cap (% of the level's dollars)",
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[
            MinValueValidator(100, "The cap is from 100 to 1,000 %% of the level's dollars."),
            MaxValueValidator(1000, "The cap is from 100 to 1,000 %% of the level's dollars."),
        ],
        help_text="A new allocation is never above this share of the level's dollars, e.g. 120; "
        "blank for no cap.",
    )
    manual_entry_approval_above_micros = MicrosField(
        "manual entries above this need a second person (USD)",
        default=10_000 * MICROS_PER_DOLLAR,
        validators=[MinValueValidator(0)],
        help_text="A ledger entry posted by hand in the admin for more than this (either sign) "
        "becomes a request that someone else approves. Only a superuser changes it.",
    )
    delegation_max_days = models.PositiveSmallIntegerField(
        "longest delegation (days)",
        default=DEFAULT_DELEGATION_MAX_DAYS,
        validators=[MinValueValidator(1), MaxValueValidator(366)],
        help_text="A stand-in decides for an approver for at most this many days from its first "
        "day; a stored delegation gives no power past them.",
    )
    delegation_stand_ins = models.CharField(
        "who may stand in",
        max_length=20,
        choices=StandInRule.choices,
        default=StandInRule.MANAGERS_AT_LEVEL,
        help_text="Checked when a delegation is made and whenever it would decide. Offer steps "
        "go only to a stand-in who may see offers: HR or a manager.",
    )
    level_change_policy = models.CharField(
        "level changes mid-year",
        max_length=20,
        choices=LevelChangePolicy.choices,
        default=LevelChangePolicy.APPROVAL,
        help_text="A new level (in the admin, by import or by SCIM) always sets what later years "
        "start from; this says what it does to this year's budget: the difference between the "
        "annual amounts, prorated from the day it applies, posted at once, asked for through "
        "approval, or left to next year's allocation.",
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = "company settings"
        verbose_name_plural = "company settings"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="company_settings_singleton"),
        ]

    def __str__(self) -> str:
        return f"Settings of {self.name}"

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)
        cache.delete(SETTINGS_CACHE_KEY)

    def clean(self) -> None:
        if (
            self.budget_indexing == BudgetIndexing.BLEND
            and self.indexing_blend_weight is not None
            and self.indexing_blend_weight in (0, 100)
        ):
            choice = "fixed in dollars" if self.indexing_blend_weight == 0 else "fixed in tokens"
            raise ValidationError(
                {
                    "indexing_blend_weight": f"A blend of {int(self.indexing_blend_weight)}"
                    f" % is {choice}: choose that policy, or a weight between 0 and 100 %."
                }
            )

    def transparency_for(self, team: Team | None) -> str:
        return (team.transparency if team and team.transparency else "") or (
            self.transparency_default
        )
