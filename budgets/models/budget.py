"""A budget: one owner's money for one fiscal year, with its running totals."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from budgets.calculations import limit_micros
from common.money import MicrosField
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
    # Running totals: written only by the ledger kernel (budgets.ledger), in the transaction of
    # each ledger entry; tests/test_code_shape.py fails the build on any other writer.
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
