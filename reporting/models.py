"""Quarterly finance reports: productivity metrics teams record, and report runs whose
numbers are frozen at generation (a snapshot) with the PDF built from them."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from budgets.models import EntryKind
from people.models import Team


class PrivateReportStorage(FileSystemStorage):
    """Report files under MEDIA_ROOT that have no URL: they are served only by the view that
    checks the reader is Finance (reporting.views.report_download)."""

    def url(self, name):
        raise ValueError("Report files have no public URL; use the download view.")


def private_report_storage() -> PrivateReportStorage:
    return PrivateReportStorage()


class ProductivityMetric(models.Model):
    """What a team produced in a month, e.g. 42 merged pull requests: the report divides the
    team's token spend by it (spend per unit)."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="productivity_metrics")
    month = models.DateField(help_text="The first day of the month.")
    metric = models.SlugField(
        max_length=60, help_text="What is counted, e.g. merged_pull_requests, shipped_features."
    )
    value = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(0)])
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-month", "team__name", "metric"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "month", "metric"], name="productivity_metric_once_per_month"
            ),
            models.CheckConstraint(
                condition=models.Q(value__gte=0), name="productivity_metric_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team} {self.month:%Y-%m} {self.metric}: {self.value}"

    def clean(self) -> None:
        if self.month and self.month.day != 1:
            raise ValidationError({"month": "Give the first day of the month (e.g. 2026-04-01)."})


class RunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    # Its worker was lost mid-build (killed, or its database connection cut): the sweep queues it
    # again within minutes.
    INTERRUPTED = "interrupted", "Interrupted (building again)"


class RunTrigger(models.TextChoices):
    WEB = "web", "Asked on /reports/"
    SCHEDULE = "schedule", "Quarter start (scheduled)"
    COMMAND = "command", "Command line"


class ReportRun(models.Model):
    """One generation of a quarter's report, or of a month's (`month` set: then `fiscal_year`
    and `quarter` are the fiscal quarter the month falls in). `snapshot` holds every number as
    computed when it ran; late events change nothing here (generate again to refresh)."""

    fiscal_year = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(2000), MaxValueValidator(2200)]
    )
    quarter = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(4)]
    )
    month = models.DateField(
        null=True,
        blank=True,
        help_text="The monthly report's month (its first day); empty for a quarter's report.",
    )
    include_appendix = models.BooleanField(
        "appendix of every budget", default=False, help_text="Adds one line per budget."
    )
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices, default=RunTrigger.WEB)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty for the schedule.",
    )
    requested_at = models.DateTimeField(default=timezone.now, editable=False)
    state = models.CharField(max_length=20, choices=RunState.choices, default=RunState.QUEUED)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="When the build last reported progress."
    )
    resumes = models.PositiveSmallIntegerField(
        default=0, help_text="How many times a lost build was queued again."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    snapshot = models.JSONField(null=True, blank=True, editable=False)
    pdf = models.FileField(
        upload_to="reports/%Y/", storage=private_report_storage, blank=True, editable=False
    )
    timings = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["fiscal_year", "quarter"])]
        constraints = [
            # The quarter-start schedule makes each quarter's report once, even if beat fires twice.
            models.UniqueConstraint(
                fields=["fiscal_year", "quarter"],
                condition=models.Q(trigger="schedule"),
                name="report_run_scheduled_once",
            ),
            models.CheckConstraint(
                condition=models.Q(month__isnull=True) | models.Q(month__day=1),
                name="report_run_month_first_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period_label} report #{self.pk}"

    @property
    def period_label(self) -> str:
        if self.month:
            return f"{self.month:%B %Y}"
        return f"FY{self.fiscal_year} Q{self.quarter}"

    @property
    def file_stem(self) -> str:
        """How its downloads are named: token-spend-FY2026-Q2, token-spend-2026-11."""
        if self.month:
            return f"token-spend-{self.month:%Y-%m}"
        return f"token-spend-FY{self.fiscal_year}-Q{self.quarter}"

    @property
    def is_finished(self) -> bool:
        return self.state in (RunState.DONE, RunState.FAILED)


class JournalAccount(models.Model):
    """The accounts a kind of ledger entry is booked to in the monthly journal export: finance
    sets the codes of their accounting system here. A positive entry debits `debit_account`
    and credits `credit_account`; a negative one the other way round."""

    kind = models.CharField(max_length=20, choices=EntryKind.choices, unique=True)
    debit_account = models.CharField(max_length=40)
    debit_account_name = models.CharField(max_length=120, blank=True)
    credit_account = models.CharField(max_length=40)
    credit_account_name = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["kind"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: Dr {self.debit_account} / Cr {self.credit_account}"
