"""The connectors' admin: finance configures the connections, HR maps identifiers, both read
the buckets and the unassigned queue, whose count and total head each of these pages."""

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from common.admin import ReadOnlyAdmin
from common.errors import AllotError
from common.money import format_usd
from connectors.costs import ReconciledDay, reconciled, reconciled_days
from connectors.models import (
    BucketPosting,
    ClaudeCodeDay,
    IdentityMapping,
    ProviderConnection,
    ProviderCostDay,
    SyncCursor,
    UnassignedUsage,
    UsageBucket,
)
from connectors.services import identity_map, sync_queue


def unassigned_summary() -> dict:
    """How many buckets wait for a mapping (or a price), and their amount where it is known."""
    held = UnassignedUsage.objects.aggregate(count=Count("pk"), total=Sum("estimated_micros"))
    unpriced = UnassignedUsage.objects.filter(estimated_micros__isnull=True).count()
    return {
        "unassigned_count": held["count"],
        "unassigned_total": format_usd(held["total"] or 0),
        "unassigned_unpriced": unpriced,
    }


class UnassignedSummary:
    """Puts the unassigned queue's count and total at the top of a list page."""

    change_list_template = "admin/connectors/change_list.html"

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), **unassigned_summary()})


class SyncCursorInline(admin.TabularInline):
    model = SyncCursor
    extra = 0
    fields = ["report", "synced_through", "last_run_at", "last_outcome", "lease_until"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


def sync_status(connection: ProviderConnection) -> str:
    """Running (a report's lease is held, with its page), queued, or the last sync's result."""
    now = timezone.now()
    running = [c for c in connection.cursors.all() if c.lease_until and c.lease_until > now]
    if running:
        return "Running: " + "; ".join(f"{c.report} {c.last_outcome}" for c in running)
    if connection.sync_queued_at and (
        connection.last_sync_at is None or connection.last_sync_at < connection.sync_queued_at
    ):
        return f"Queued at {timezone.localtime(connection.sync_queued_at):%Y-%m-%d %H:%M}"
    if connection.last_sync_at is None:
        return "Not synced yet"
    when = timezone.localtime(connection.last_sync_at)
    return f"{when:%Y-%m-%d %H:%M}: {connection.last_sync_result}"


@admin.register(ProviderConnection)
class ProviderConnectionAdmin(UnassignedSummary, admin.ModelAdmin):
    change_form_template = "admin/connectors/providerconnection_change_form.html"
    list_display = ["provider", "url", "admin_key_env", "key_status", "is_active", "start_on"]
    list_display += ["status"]
    actions = ["sync_now"]
    fields = [
        "provider",
        "base_url",
        "admin_key_env",
        "key_status",
        "is_active",
        "start_on",
        "restate_days",
        "claude_code",
        "reconcile_threshold_percent",
    ]
    fields += ["status"]
    readonly_fields = ["key_status", "status"]
    inlines = [SyncCursorInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("cursors")

    @admin.display(description="Sync")
    def status(self, connection: ProviderConnection) -> str:
        return sync_status(connection) if connection.pk else "-"

    def _queue(self, request, connection: ProviderConnection) -> bool:
        try:
            sync_queue(connection, request.user)
        except AllotError as error:
            messages.error(request, f"{connection}: {error.message}")
            return False
        return True

    @admin.action(description="Sync now", permissions=["change"])
    def sync_now(self, request, queryset) -> None:
        queued = [str(c) for c in queryset if self._queue(request, c)]
        if queued:
            messages.success(
                request,
                f"Sync queued: {', '.join(queued)}. The Sync column shows its progress and, "
                "when done, its result.",
            )

    def get_urls(self):
        sync = self.admin_site.admin_view(require_POST(self.sync_view))
        name = "connectors_providerconnection_sync"
        return [path("<int:pk>/sync/", sync, name=name), *super().get_urls()]

    def sync_view(self, request, pk: int):
        """The change page's Sync now button (POST): finance only, checked here."""
        connection = get_object_or_404(ProviderConnection, pk=pk)
        if not self.has_change_permission(request, connection):
            raise PermissionDenied("Only finance may sync a connection.")
        if self._queue(request, connection):
            messages.success(request, f"Sync of {connection} queued: see Sync below.")
        return redirect(reverse("admin:connectors_providerconnection_change", args=[pk]))

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "base_url":
            kwargs["assume_scheme"] = "https"  # a bare host is the provider's HTTPS address
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="Admin key")
    def key_status(self, connection: ProviderConnection) -> str:
        """Only whether the variable is set: the key itself is never shown or stored."""
        if not connection.admin_key_env:
            return "-"
        return "set in the environment" if connection.key_is_set else "NOT SET"

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # its buckets keep the record of what was posted


@admin.register(IdentityMapping)
class IdentityMappingAdmin(UnassignedSummary, admin.ModelAdmin):
    list_display = ["provider", "kind", "external_id", "employee", "project", "automatic"]
    list_filter = ["provider", "kind", "matched_automatically"]
    search_fields = ["external_id", "employee__user__email", "project__code"]
    list_select_related = ["employee__user", "project"]
    raw_id_fields = ["employee", "project"]
    fields = ["provider", "kind", "external_id", "employee", "project"]

    @admin.display(description="By email", boolean=True)
    def automatic(self, mapping: IdentityMapping) -> bool:
        return mapping.matched_automatically

    def get_readonly_fields(self, request, obj=None):
        # the identifier is the mapping's key: a different one is a new mapping
        return ["provider", "kind", "external_id"] if obj else []

    def save_model(self, request, obj, form, change):
        """Through the service: it posts what was held for the identifier."""
        try:
            mapping, posted = identity_map(
                provider=obj.provider,
                kind=obj.kind,
                external_id=obj.external_id,
                employee=obj.employee,
                project=obj.project,
                acting_user=request.user,
            )
        except AllotError as error:
            messages.error(request, error.message)
            return
        obj.pk, obj._state.adding = mapping.pk, False
        if posted:
            messages.success(request, f"{posted} held usage bucket(s) posted to {mapping}.")


class BucketPostingInline(admin.TabularInline):
    model = BucketPosting
    extra = 0
    fields = ["version", "amount", "input_tokens", "output_tokens", "cached_input_tokens"]
    fields += ["cache_write_tokens", "cache_write_1h_tokens"]
    fields += ["usage_event", "ledger_entry", "created_at"]
    readonly_fields = fields
    can_delete = False

    @admin.display(description="Amount")
    def amount(self, posting: BucketPosting) -> str:
        return format_usd(posting.amount_micros)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class BucketColumns:
    list_filter = ["connection", "report", "model_name"]
    search_fields = ["group_key", "employee__user__email"]
    date_hierarchy = "starts_at"
    list_select_related = ["connection", "employee__user"]
    show_full_result_count = False

    @admin.display(description="Amount", ordering="estimated_micros")
    def amount(self, bucket: UsageBucket) -> str:
        return bucket.amount_display

    @admin.display(description="Posted", ordering="charged_micros")
    def charged(self, bucket: UsageBucket) -> str:
        return format_usd(bucket.charged_micros)


@admin.register(UsageBucket)
class UsageBucketAdmin(UnassignedSummary, BucketColumns, ReadOnlyAdmin):
    list_display = ["starts_at", "connection", "report", "group_key", "amount", "charged"]
    list_display += ["version", "state", "employee"]
    list_filter = ["state", *BucketColumns.list_filter]
    inlines = [BucketPostingInline]


@admin.register(UnassignedUsage)
class UnassignedUsageAdmin(UnassignedSummary, BucketColumns, ReadOnlyAdmin):
    list_display = ["starts_at", "connection", "group_key", "amount", "hold_reason"]


class ReconciliationChangeList(ChangeList):
    """Reconciles the page's rows together: the gateway's part is one query for the page."""

    def get_results(self, request) -> None:
        super().get_results(request)
        self.result_list = list(self.result_list)
        for day in reconciled_days(self.result_list):
            day.day_row.reconciled_day = day


@admin.register(ProviderCostDay)
class ReconciliationAdmin(ReadOnlyAdmin):
    """Finance's reconciliation: per provider and UTC day, the provider's cost report against
    everything Allot recorded for it (its connector's buckets, and the gateway's and API's
    usage of its models), the gap in dollars and percent, and what is held."""

    change_list_template = "admin/connectors/reconciliation_change_list.html"
    list_display = ["day", "connection", "provider_cost", "from_connectors", "restated"]
    list_display += ["from_gateway"]
    list_display += ["recorded", "held", "gap", "gap_percent", "over"]
    list_filter = ["connection"]
    date_hierarchy = "day"

    def get_queryset(self, request):
        return reconciled(super().get_queryset(request))

    def get_changelist(self, request, **kwargs):
        return ReconciliationChangeList

    @staticmethod
    def _day(row: ProviderCostDay) -> ReconciledDay:
        """The row's reconciled day, as ReconciliationChangeList put on it."""
        day = getattr(row, "reconciled_day", None)
        return day if day is not None else reconciled_days([row])[0]

    @admin.display(description="Provider's cost", ordering="provider_cost_micros")
    def provider_cost(self, row: ProviderCostDay) -> str:
        return format_usd(row.provider_cost_micros)

    @admin.display(description="From connectors", ordering="recorded")
    def from_connectors(self, row: ProviderCostDay) -> str:
        return format_usd(self._day(row).connector_micros)

    @admin.display(description="Of which restatements", ordering="restated")
    def restated(self, row: ProviderCostDay) -> str:
        return format_usd(self._day(row).restated_micros)

    @admin.display(description="From the gateway/API")
    def from_gateway(self, row: ProviderCostDay) -> str:
        return format_usd(self._day(row).gateway_micros)

    @admin.display(description="Recorded by Allot")
    def recorded(self, row: ProviderCostDay) -> str:
        return format_usd(self._day(row).recorded_micros)

    @admin.display(description="Held (unassigned)", ordering="held")
    def held(self, row: ProviderCostDay) -> str:
        return format_usd(row.held or 0)

    @admin.display(description="Gap")
    def gap(self, row: ProviderCostDay) -> str:
        return format_usd(self._day(row).difference_micros)

    @admin.display(description="Gap %")
    def gap_percent(self, row: ProviderCostDay) -> str:
        share = self._day(row).difference_percent
        return "-" if share is None else f"{share:+} %"

    @admin.display(description="Over the limit", boolean=True)
    def over(self, row: ProviderCostDay) -> bool:
        return self._day(row).over_threshold


@admin.register(ClaudeCodeDay)
class ClaudeCodeDayAdmin(ReadOnlyAdmin):
    """Each engineer's Claude Code days (the quarterly report sums them per team and month)."""

    list_display = ["day", "email", "employee", "sessions", "commits", "pull_requests"]
    list_display += ["lines_added", "lines_removed", "edits_accepted", "edits_rejected"]
    list_filter = ["connection", ("employee", admin.EmptyFieldListFilter)]
    search_fields = ["email", "employee__user__email"]
    list_select_related = ["employee__user"]
    date_hierarchy = "day"
