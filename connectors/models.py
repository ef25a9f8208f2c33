"""A provider connection, its cursor per report, the buckets read from the reports, what each
bucket posted, the identity map, and the unassigned queue (buckets held until mapped)."""

import os
import re
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from budgets.models import LedgerEntry, UsageEvent
from common.money import MicrosField, format_usd
from people.models import Employee, Project


class Provider(models.TextChoices):
    ANTHROPIC = "anthropic", "Anthropic (Admin API)"
    OPENAI = "openai", "OpenAI (organization API)"


DEFAULT_BASE_URLS = {
    Provider.ANTHROPIC: "https://api.anthropic.com",
    Provider.OPENAI: "https://api.openai.com",
}


class Report(models.TextChoices):
    ANTHROPIC_MESSAGES = "messages", "Anthropic messages usage"
    OPENAI_COMPLETIONS = "completions", "OpenAI completions usage"
    ANTHROPIC_COSTS = "cost_report", "Anthropic cost report"
    OPENAI_COSTS = "costs", "OpenAI costs"
    ANTHROPIC_CLAUDE_CODE = "claude_code", "Anthropic Claude Code usage"


def key_variable_allowed(name: str) -> bool:
    """Only ALLOT_..._ADMIN_KEY: the key is sent to the connection's address, so a connection
    must not be able to name SECRET_KEY or DATABASE_URL and send it to a server of its own."""
    return bool(re.fullmatch(r"ALLOT_[A-Z0-9_]*ADMIN_KEY", name or ""))


def base_url_allowed(url: str) -> bool:
    """https, or http to this machine (a local proxy, the tests' server)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost"}


class ProviderConnection(models.Model):
    """How Allot reads one provider's usage reports. The admin key is never stored: the
    connection names the environment variable that holds it, and the admin shows only whether
    that variable is set."""

    provider = models.CharField(max_length=20, choices=Provider.choices, unique=True)
    base_url = models.URLField(
        blank=True, help_text="Empty for the provider's own API; set for a proxy or a test server."
    )
    admin_key_env = models.CharField(
        "admin key's environment variable",
        max_length=100,
        help_text="The name of the environment variable holding the admin key (never the key), "
        "ALLOT_..._ADMIN_KEY, e.g. ALLOT_ANTHROPIC_ADMIN_KEY.",
    )
    is_active = models.BooleanField("active", default=True)
    start_on = models.DateField(
        help_text="The first day read when the connection has never synced (UTC)."
    )
    restate_days = models.PositiveSmallIntegerField(
        default=3,
        help_text="Each sync reads this many days again: providers restate recent buckets.",
    )
    claude_code = models.BooleanField(
        "read the Claude Code report",
        default=True,
        help_text="Anthropic only: per-engineer commits, pull requests and lines, by email.",
    )
    reconcile_threshold_percent = models.DecimalField(
        "reconciliation alert above (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal(0))],
        help_text="Finance is told of a day whose recorded usage differs from the provider's "
        "cost report by more than this share of the report.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sync_queued_at = models.DateTimeField(
        "sync queued at", null=True, blank=True, editable=False, help_text="Finance's Sync now."
    )
    last_sync_at = models.DateTimeField("last sync finished", null=True, blank=True, editable=False)
    last_sync_result = models.CharField(
        "last sync's result", max_length=1000, blank=True, editable=False
    )

    class Meta:
        ordering = ["provider"]

    def __str__(self) -> str:
        return self.get_provider_display()

    def clean(self) -> None:
        if not key_variable_allowed(self.admin_key_env):
            raise ValidationError(
                {
                    "admin_key_env": "A variable named ALLOT_..._ADMIN_KEY (letters, digits and "
                    "underscores): no other variable of the server's is ever sent to a provider."
                }
            )
        if self.base_url and not base_url_allowed(self.base_url):
            raise ValidationError(
                {"base_url": "An https:// address (http:// only for 127.0.0.1 or localhost)."}
            )

    @property
    def url(self) -> str:
        return (self.base_url or DEFAULT_BASE_URLS[self.provider]).rstrip("/")

    @property
    def admin_key(self) -> str:
        """The key from the environment; nothing for a variable outside the allowed names
        (the admin refuses them; this holds for rows written any other way too)."""
        if not key_variable_allowed(self.admin_key_env):
            return ""
        return os.environ.get(self.admin_key_env, "")

    @property
    def key_is_set(self) -> bool:
        return bool(self.admin_key)


class SyncCursor(models.Model):
    """Where a report's sync stands, and its lease: a run takes the row with one conditional
    UPDATE (on SQLite too), so two runs at once cannot both read and post."""

    connection = models.ForeignKey(
        ProviderConnection, on_delete=models.CASCADE, related_name="cursors"
    )
    report = models.CharField(max_length=20, choices=Report.choices)
    synced_through = models.DateTimeField(
        null=True, blank=True, help_text="Buckets starting before this were read (UTC)."
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=500, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=36, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "report"], name="sync_cursor_unique")
        ]

    def __str__(self) -> str:
        return f"{self.connection} {self.get_report_display()}"


class BucketState(models.TextChoices):
    HELD = "held", "Held (unassigned)"
    POSTED = "posted", "Posted"


class UsageBucket(models.Model):
    """One result of a usage report: a time bucket for one group (API key, workspace, user,
    project, model). Its numbers are the provider's latest; what it posted is in `postings`."""

    # The unique (connection, report, starts_at, group_key) index starts with the connection;
    # whom a bucket was posted to is read through its usage event: no index of their own (a
    # million rows a year, each index one more write per row).
    connection = models.ForeignKey(
        ProviderConnection, on_delete=models.PROTECT, related_name="buckets", db_index=False
    )
    report = models.CharField(max_length=20, choices=Report.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    group_key = models.CharField(max_length=400)
    identities = models.JSONField(default=dict, help_text="The group's ids, as the report sent.")
    model_name = models.CharField("model", max_length=100)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField("cache writes, 5 minutes", default=0, db_default=0)
    cache_write_1h_tokens = models.BigIntegerField("cache writes, 1 hour", default=0, db_default=0)
    requests = models.BigIntegerField(null=True, blank=True)
    provider_cost_micros = MicrosField(
        "provider's cost (USD)", null=True, blank=True, help_text="Empty: priced by Allot."
    )
    estimated_micros = MicrosField(
        "amount (USD)",
        null=True,
        blank=True,
        help_text="The provider's cost, else Allot's price table; empty when no price is known.",
    )
    charged_micros = MicrosField("posted so far (USD)", default=0)
    version = models.PositiveIntegerField(default=1, help_text="1, plus one per restatement.")
    state = models.CharField(max_length=10, choices=BucketState.choices, default=BucketState.HELD)
    hold_reason = models.CharField(max_length=300, blank=True)
    employee = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    usage_event = models.OneToOneField(
        UsageEvent,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bucket",
        help_text="The usage event the bucket became when first posted (its first posting; "
        "each restatement after it is a BucketPosting).",
    )
    first_seen_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-starts_at", "group_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "report", "starts_at", "group_key"],
                name="usage_bucket_unique",
            )
        ]
        # the unassigned queue: only held buckets are in this index
        indexes = [
            models.Index(fields=["connection"], condition=Q(state="held"), name="usage_bucket_held")
        ]

    def __str__(self) -> str:
        return f"{self.report} {self.starts_at:%Y-%m-%d %H:%M} {self.group_key}"

    @property
    def amount_display(self) -> str:
        return format_usd(self.estimated_micros) if self.estimated_micros is not None else "?"


class HeldUsageManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(state=BucketState.HELD)


class UnassignedUsage(UsageBucket):
    """The unassigned queue: buckets whose identity is not mapped yet (or whose model has no
    price), held with their amounts until they can be posted."""

    objects = HeldUsageManager()

    class Meta:
        proxy = True
        verbose_name = "unassigned usage"
        verbose_name_plural = "unassigned usage"


class BucketPosting(models.Model):
    """What a restatement of a bucket posted (version 2 on): a further usage event upwards, or
    a usage correction downwards. With the bucket's first usage event, its audit trail."""

    bucket = models.ForeignKey(UsageBucket, on_delete=models.PROTECT, related_name="postings")
    version = models.PositiveIntegerField()
    amount_micros = MicrosField("amount (USD)")
    input_tokens = models.BigIntegerField(default=0, help_text="Signed: the change posted.")
    output_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0, db_default=0)
    cache_write_1h_tokens = models.BigIntegerField(default=0, db_default=0)
    usage_event = models.OneToOneField(
        UsageEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ledger_entry = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["bucket", "version"]
        constraints = [
            models.UniqueConstraint(fields=["bucket", "version"], name="bucket_posting_unique")
        ]

    def __str__(self) -> str:
        return f"{self.bucket} v{self.version}: {format_usd(self.amount_micros)}"


class IdentityKind(models.TextChoices):
    API_KEY = "api_key_id", "API key"
    WORKSPACE = "workspace_id", "Workspace (Anthropic)"
    USER = "user_id", "User (OpenAI)"
    PROJECT = "project_id", "Project (OpenAI)"
    EMAIL = "email", "User email"


class IdentityMapping(models.Model):
    """A provider's identifier and whom its usage belongs to: an employee, or a project (paid
    by its lead unless an employee is named too)."""

    provider = models.CharField(max_length=20, choices=Provider.choices)
    kind = models.CharField(max_length=20, choices=IdentityKind.choices)
    external_id = models.CharField("external identifier", max_length=254)
    employee = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    matched_automatically = models.BooleanField(default=False, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["provider", "kind", "external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "kind", "external_id"], name="identity_mapping_unique"
            ),
            models.CheckConstraint(
                condition=Q(employee__isnull=False) | Q(project__isnull=False),
                name="identity_mapping_has_target",
            ),
        ]

    def __str__(self) -> str:
        target = self.employee or self.project
        return f"{self.provider} {self.kind} {self.external_id} → {target}"

    def clean(self) -> None:
        if self.employee_id is None and self.project_id is None:
            raise ValidationError("Map the identifier to an employee or a project.")
        if self.employee_id is None and self.project_id and self.project.lead_id is None:
            raise ValidationError(
                {"employee": "This project has no lead to pay for its usage: name an employee."}
            )


class ProviderCostDay(models.Model):
    """A provider's cost report for one UTC day (the invoice's numbers), reconciled against
    what Allot recorded from the same provider's usage buckets that day."""

    connection = models.ForeignKey(
        ProviderConnection, on_delete=models.PROTECT, related_name="cost_days"
    )
    day = models.DateField(help_text="The report's UTC day.")
    provider_cost_micros = MicrosField("provider's cost (USD)")
    fetched_at = models.DateTimeField(default=timezone.now)
    alerted_at = models.DateTimeField(
        null=True, blank=True, help_text="When finance was told this day's gap is over the limit."
    )

    class Meta:
        ordering = ["-day", "connection"]
        verbose_name = "reconciliation day"
        constraints = [
            models.UniqueConstraint(fields=["connection", "day"], name="provider_cost_day_unique")
        ]

    def __str__(self) -> str:
        return f"{self.connection} {self.day}"


class ClaudeCodeDay(models.Model):
    """One engineer's day of Claude Code, from Anthropic's Claude Code usage report: the
    productivity the quarterly report divides spend by (commits, pull requests, lines)."""

    connection = models.ForeignKey(
        ProviderConnection, on_delete=models.PROTECT, related_name="claude_code_days"
    )
    day = models.DateField(help_text="The report's UTC day.")
    email = models.CharField("user email", max_length=254)
    employee = models.ForeignKey(
        Employee, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sessions = models.PositiveIntegerField(default=0)
    lines_added = models.PositiveIntegerField(default=0)
    lines_removed = models.PositiveIntegerField(default=0)
    commits = models.PositiveIntegerField(default=0)
    pull_requests = models.PositiveIntegerField(default=0)
    edits_accepted = models.PositiveIntegerField(
        default=0, help_text="Edit, multi-edit, write and notebook-edit actions accepted."
    )
    edits_rejected = models.PositiveIntegerField(default=0)
    estimated_cost_micros = MicrosField(
        "estimated cost (USD)",
        default=0,
        help_text="The report's estimate; not posted (the messages report charges the usage).",
    )
    fetched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day", "email"]
        verbose_name = "Claude Code day"
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "day", "email"], name="claude_code_day_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} {self.day}"
