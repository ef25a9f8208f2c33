"""What the admin's lists of budgets, ledger entries and usage export (CSV, XLSX, TSV; the
filters and search of the list applied): money in dollars, never micro-units, names as a person
reads them, every cell formula-safe (common.exports). Export only: none of these lists imports,
as an import would write money outside the ledger kernel."""

from import_export import fields

from budgets.models import Budget, LedgerEntry, UsageEvent
from common.exports import DollarsField, SpreadsheetSafeResource


class BudgetExportResource(SpreadsheetSafeResource):
    owner = fields.Field(column_name="owner", attribute="owner_label", readonly=True)
    owner_kind = fields.Field(column_name="owner_kind", attribute="owner_kind", readonly=True)
    allocated = DollarsField(column_name="allocated_usd", attribute="allocated_micros")
    spent = DollarsField(column_name="spent_usd", attribute="spent_micros")
    reserved = DollarsField(column_name="reserved_usd", attribute="reserved_micros")
    remaining = DollarsField(column_name="remaining_usd", attribute="remaining_micros")
    carried_over = DollarsField(column_name="carried_over_usd", attribute="carried_over_micros")

    class Meta:
        model = Budget
        fields = (
            "id",
            "owner",
            "owner_kind",
            "fiscal_year",
            "enforcement",
            "allocated",
            "spent",
            "reserved",
            "remaining",
            "carried_over",
        )
        export_order = fields


# What a budget's owner_label reads, for the streamed exports' one load per budget.
BUDGET_OWNER = {"budget": ("employee__user", "team", "project")}


class LedgerEntryExportResource(SpreadsheetSafeResource):
    related_select = BUDGET_OWNER
    budget = fields.Field(column_name="budget", attribute="budget__owner_label", readonly=True)
    fiscal_year = fields.Field(
        column_name="fiscal_year", attribute="budget__fiscal_year", readonly=True
    )
    amount = DollarsField(column_name="amount_usd", attribute="amount_micros")
    acting_user = fields.Field(
        column_name="acting_user", attribute="acting_user__email", readonly=True
    )

    class Meta:
        model = LedgerEntry
        fields = (
            "id",
            "created_at",
            "budget",
            "fiscal_year",
            "kind",
            "amount",
            "acting_user",
            "memo",
            "idempotency_key",
        )
        export_order = fields


class UsageEventExportResource(SpreadsheetSafeResource):
    related_select = BUDGET_OWNER
    employee = fields.Field(
        column_name="employee", attribute="employee__user__email", readonly=True
    )
    project = fields.Field(column_name="project", attribute="project__code", readonly=True)
    budget = fields.Field(column_name="budget", attribute="budget__owner_label", readonly=True)
    cost = DollarsField(column_name="cost_usd", attribute="cost_micros")

    class Meta:
        model = UsageEvent
        fields = (
            "id",
            "occurred_at",
            "source",
            "event_id",
            "employee",
            "project",
            "model_name",
            "category",
            "input_tokens",
            "output_tokens",
            "cached_input_tokens",
            "cache_write_tokens",
            "cache_write_1h_tokens",
            "cost",
            "budget",
        )
        export_order = fields
