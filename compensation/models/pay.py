"""What each employee is paid, for total rewards statements: a pay record per change (the
accepted offer's package at hire, then each raise or change HR records), and the runs that
make every employee's statement in the background."""

from decimal import Decimal

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from common.money import MicrosField
from compensation.models.policy import NOT_NEGATIVE
from people.models import Employee


class PaySource(models.TextChoices):
    OFFER = "offer", "Accepted offer"
    HR = "hr", "Recorded by HR"
    IMPORT = "import", "Imported"


class PayRecord(models.Model):
    """The package in force from `effective_from` until the employee's next record. Amounts are
    US dollars a year, in micro-dollars, as on the offer."""

    employee = models.ForeignKey(Employee, on_delete=models.PROTECT, related_name="pay_records")
    effective_from = models.DateField()
    base_salary_micros = MicrosField("base salary (USD/year)", validators=NOT_NEGATIVE)
    stock_option_count = models.PositiveIntegerField("stock options", default=0)
    stock_annual_value_micros = MicrosField(
        "stock annualised value (USD/year)", default=0, validators=NOT_NEGATIVE
    )
    bonus_micros = MicrosField(
        "bonus (USD/year)",
        default=0,
        validators=NOT_NEGATIVE,
        help_text="Target annual bonus; a sign-on bonus goes in its own field.",
    )
    sign_on_bonus_micros = MicrosField(
        "sign-on bonus (USD)",
        default=0,
        validators=NOT_NEGATIVE,
        help_text="Paid once: shown on the statement of the fiscal year the record starts in.",
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
    professional_development_micros = MicrosField(
        "professional development budget (USD/year)", default=0, validators=NOT_NEGATIVE
    )
    source = models.CharField(max_length=10, choices=PaySource.choices, default=PaySource.HR)
    offer = models.OneToOneField(
        "compensation.Offer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pay_record",
        editable=False,
        help_text="The accepted offer this record came from.",
    )
    note = models.CharField(max_length=200, blank=True, help_text="E.g. 'annual raise 2026'.")
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
        ordering = ["employee__user__email", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["employee", "effective_from"], name="pay_record_one_a_day"
            ),
            models.CheckConstraint(
                condition=Q(base_salary_micros__gte=0)
                & Q(stock_annual_value_micros__gte=0)
                & Q(bonus_micros__gte=0)
                & Q(sign_on_bonus_micros__gte=0)
                & Q(health_plan_cost_micros__gte=0)
                & Q(professional_development_micros__gte=0),
                name="pay_record_amounts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.employee} from {self.effective_from:%Y-%m-%d}"


class PrivateStatementStorage(FileSystemStorage):
    """Statement files under MEDIA_ROOT with no URL: pay is private, so they are served only by
    the view that checks the reader is HR."""

    def url(self, name):
        raise ValueError("Statement files have no public URL; use the download view.")


def private_statement_storage() -> PrivateStatementStorage:
    return PrivateStatementStorage()


class StatementRunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    INTERRUPTED = "interrupted", "Interrupted (making again)"


class StatementRun(models.Model):
    """Every active employee's total rewards statement for a fiscal year, made in the
    background: one PDF per employee, then one zip of them all. A run that loses its worker is
    resumed and skips the statements it already made."""

    fiscal_year = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(2000), MaxValueValidator(2200)]
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    requested_at = models.DateTimeField(default=timezone.now, editable=False)
    state = models.CharField(
        max_length=20, choices=StatementRunState.choices, default=StatementRunState.QUEUED
    )
    total = models.PositiveIntegerField(default=0, help_text="Employees to make a statement for.")
    done = models.PositiveIntegerField(default=0)
    without_pay = models.PositiveIntegerField(
        default=0, help_text="Statements made without a pay record (token budget only)."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    resumes = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    archive = models.FileField(
        upload_to="statements/%Y/", storage=private_statement_storage, blank=True, editable=False
    )
    timings = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"FY{self.fiscal_year} total rewards statements #{self.pk}"

    @property
    def progress_percent(self) -> int:
        if self.state == StatementRunState.DONE:
            return 100
        return min(99, self.done * 100 // self.total) if self.total else 0

    @property
    def is_finished(self) -> bool:
        return self.state in (StatementRunState.DONE, StatementRunState.FAILED)
