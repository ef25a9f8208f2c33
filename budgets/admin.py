"""HR's and finance's admin for budgets, the ledger (read-only: corrections are new entries),
prices and usage; plus the budget parts of the employee page."""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from budgets.calculations import utilisation_percent
from budgets.exports import (
    BudgetExportResource,
    LedgerEntryExportResource,
    UsageEventExportResource,
)
from budgets.models import (
    AlertClaim,
    Budget,
    EntryKind,
    IntegrationKey,
    LedgerEntry,
    OwnerKind,
    Reservation,
    UsageEvent,
)
from budgets.selectors import employee_balance
from budgets.services import budget_adjust, budget_allocate, employee_allocate_from_level
from common.admin import HistoryAdmin, ReadOnlyAdmin
from common.errors import AllotError
from common.exports import SpreadsheetExportOnlyMixin
from common.money import DollarsFormField, format_usd
from people.admin import EmployeeAdmin as PeopleEmployeeAdmin
from people.admin import EmployeeChoicesMixin
from people.models import Employee
from people.selectors import company_settings, current_fiscal_year, fiscal_year_of

RECENT_ENTRIES = 25


def _ledger_link(label: str, **filters) -> str:
    query = "&".join(f"{key}={value}" for key, value in filters.items())
    return format_html(
        '<a href="{}?{}">{}</a>', reverse("admin:budgets_ledgerentry_changelist"), query, label
    )


def _recent_entries_table(entries, more_link: str) -> str:
    return render_to_string(
        "admin/budgets/recent_entries.html", {"entries": entries, "more_link": more_link}
    )


def _utilisation_bar(allocated_micros: int, spent_micros: int) -> str:
    percent = utilisation_percent(allocated_micros=allocated_micros, spent_micros=spent_micros)
    width = None if percent is None else min(percent, 100)
    return render_to_string(
        "admin/budgets/utilisation_bar.html", {"percent": percent, "width": width}
    )


class OwnerKindFilter(admin.SimpleListFilter):
    title = "owner"
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        return OwnerKind.choices

    def queryset(self, request, queryset):
        column = {"employee": "employee", "team": "team", "project": "project"}.get(self.value())
        return queryset.filter(**{f"{column}__isnull": False}) if column else queryset


class BudgetTotalsColumns:
    """Allocated, spent and remaining in dollars, for the budget list and the employee's inline."""

    @admin.display(description="Allocated", ordering="allocated_micros")
    def allocated(self, budget: Budget) -> str:
        return format_usd(budget.allocated_micros)

    @admin.display(description="Spent", ordering="spent_micros")
    def spent(self, budget: Budget) -> str:
        return format_usd(budget.spent_micros)

    @admin.display(description="Remaining", ordering="remaining_micros")
    def remaining(self, budget: Budget) -> str:
        return format_usd(budget.allocated_micros - budget.spent_micros - budget.reserved_micros)


# What the budget's page edits once it exists: its rules, never its owner or its totals.
BUDGET_RULES = ("enforcement", "overdraft_percent", "alert_thresholds")


class BudgetForm(forms.ModelForm):
    class Meta:
        model = Budget
        fields = [
            "employee",
            "team",
            "project",
            "fiscal_year",
            *BUDGET_RULES,
        ]


@admin.register(Budget)
class BudgetAdmin(
    EmployeeChoicesMixin, SpreadsheetExportOnlyMixin, BudgetTotalsColumns, HistoryAdmin
):
    form = BudgetForm
    resource_classes = [BudgetExportResource]  # "Export" on the list (budgets/exports.py)
    list_display = [
        "owner_label",
        "fiscal_year",
        "enforcement",
        "allocated",
        "spent",
        "remaining",
        "utilisation",
    ]
    list_filter = ["fiscal_year", OwnerKindFilter, "enforcement"]
    search_fields = [
        "employee__user__email",
        "employee__user__first_name",
        "employee__user__last_name",
        "team__name",
        "project__code",
        "project__name",
    ]
    list_select_related = ["employee__user", "team", "project"]
    autocomplete_fields = ["employee", "team", "project"]
    readonly_fields = ["allocated", "spent", "remaining", "utilisation", "recent_entries"]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        owner_fields = ["employee", "team", "project", "fiscal_year"] if obj else []
        return [*owner_fields, *self.readonly_fields]

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            ("Owner", {"fields": ["employee", "team", "project", "fiscal_year"]}),
            ("Enforcement", {"fields": list(BUDGET_RULES)}),
        ]
        if obj:
            fieldsets.append(
                ("Balance", {"fields": ["allocated", "spent", "remaining", "utilisation"]})
            )
            fieldsets.append(("Ledger", {"fields": ["recent_entries"]}))
        return fieldsets

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Only the rules the form changed: the row's running totals were read when the page
        # opened, and usage posted since must not be written over (totals move by ledger only).
        obj.save(update_fields=[name for name in form.changed_data if name in BUDGET_RULES])
        return None

    @admin.display(description="Used")
    def utilisation(self, budget: Budget) -> str:
        return _utilisation_bar(budget.allocated_micros, budget.spent_micros)

    @admin.display(description="Latest entries")
    def recent_entries(self, budget: Budget) -> str:
        entries = budget.entries.select_related("acting_user")[:RECENT_ENTRIES]
        return _recent_entries_table(
            entries, _ledger_link("All entries of this budget", budget__id__exact=budget.pk)
        )


class LedgerEntryForm(forms.ModelForm):
    """The only way to change a balance in the admin: post a new entry through the services."""

    kind = forms.ChoiceField(
        choices=[
            (EntryKind.ALLOCATION, EntryKind.ALLOCATION.label),
            (EntryKind.APPROVED_INCREASE, EntryKind.APPROVED_INCREASE.label),
            (EntryKind.ADJUSTMENT, "Adjustment (negative to take money back)"),
        ]
    )
    amount = DollarsFormField(label="Amount (USD)")

    class Meta:
        model = LedgerEntry
        fields = ["budget", "kind", "memo"]

    def clean(self):
        data = super().clean()
        amount, kind, budget = data.get("amount"), data.get("kind"), data.get("budget")
        if amount is None or kind is None or budget is None:
            return data
        if kind != EntryKind.ADJUSTMENT and amount <= 0:
            self.add_error("amount", "An allocation adds money: give an amount above zero.")
        if not data.get("memo", "").strip():
            self.add_error("memo", "Say why: every entry posted by hand needs its reason.")
        if kind == EntryKind.ADJUSTMENT:
            if amount == 0:
                self.add_error("amount", "An adjustment of zero changes nothing.")
            if amount < 0 and budget.allocated_micros + amount < 0:
                self.add_error(
                    "amount",
                    f"The budget has {format_usd(budget.allocated_micros)} allocated; "
                    "an adjustment cannot take it below zero.",
                )
        return data


@admin.register(LedgerEntry)
class LedgerEntryAdmin(SpreadsheetExportOnlyMixin, admin.ModelAdmin):
    form = LedgerEntryForm
    resource_classes = [LedgerEntryExportResource]  # export only: money moves by the kernel
    list_display = ["created_at", "budget", "kind", "amount", "acting_user", "memo"]
    list_filter = ["kind", "budget__fiscal_year", "created_at"]
    search_fields = ["memo", "idempotency_key", "budget__employee__user__email"]
    list_select_related = [
        "budget__employee__user",
        "budget__team",
        "budget__project",
        "acting_user",
    ]
    autocomplete_fields = ["budget"]
    show_full_result_count = False
    list_per_page = 100
    # The "All entries" links of the budget and employee pages filter by these.
    linked_lookups = frozenset({"budget__id__exact", "budget__employee__id__exact"})

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        return lookup in self.linked_lookups or super().lookup_allowed(lookup, value, request)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["budget", "kind", "amount", "memo"]
        return [
            "budget",
            "kind",
            "amount",
            "created_at",
            "acting_user",
            "memo",
            "idempotency_key",
            "counterpart",
            "rollover_run",
        ]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj else []

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Amount", ordering="amount_micros")
    def amount(self, entry: LedgerEntry) -> str:
        return format_usd(entry.amount_micros)

    def post_entry(self, request, data: dict) -> LedgerEntry | None:
        """Post the form's entry; None when it was not posted now (approvals/admin.py routes
        large ones through a second person)."""
        common = {
            "budget": data["budget"],
            "amount_micros": data["amount"],
            "acting_user": request.user,
            "memo": data["memo"],
        }
        if data["kind"] == EntryKind.ADJUSTMENT:
            return budget_adjust(**common)
        return budget_allocate(kind=data["kind"], **common)

    def save_model(self, request, obj, form, change):
        entry = self.post_entry(request, form.cleaned_data)
        if entry is not None:
            # The admin goes on with `obj` (log entry, message, redirect): make it the entry.
            obj.__dict__.update(entry.__dict__)

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except AllotError as error:  # a rule the form could not check beforehand (e.g. a race)
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:budgets_ledgerentry_changelist"))


@admin.register(UsageEvent)
class UsageEventAdmin(SpreadsheetExportOnlyMixin, ReadOnlyAdmin):
    resource_classes = [UsageEventExportResource]  # export only
    list_display = [
        "occurred_at",
        "employee",
        "model_name",
        "category",
        "total_tokens",
        "cost",
        "budget",
    ]
    list_filter = ["category", "model_name", "source"]
    search_fields = ["event_id", "employee__user__email"]
    list_select_related = [
        "employee__user",
        "budget__employee__user",
        "budget__team",
        "budget__project",
        "project",
    ]
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    list_per_page = 100

    @admin.display(description="Cost", ordering="cost_micros")
    def cost(self, event: UsageEvent) -> str:
        return format_usd(event.cost_micros)


class EmployeeBudgetInline(BudgetTotalsColumns, admin.TabularInline):
    model = Budget
    fk_name = "employee"
    extra = 0
    fields = ["fiscal_year", "enforcement", "allocated", "spent", "remaining"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


admin.site.unregister(Employee)


@admin.register(Employee)
class EmployeeAdmin(PeopleEmployeeAdmin):
    inlines = [EmployeeBudgetInline]
    actions = [*PeopleEmployeeAdmin.actions, "allocate_from_level"]
    readonly_fields = ["balance", "recent_entries"]

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return [*fields, "balance", "recent_entries"] if obj else fields

    @admin.display(description="Balance this fiscal year")
    def balance(self, employee: Employee) -> str:
        fiscal_year = current_fiscal_year()
        # A hire starting in a later year has nothing to allocate now: show the year they start.
        start_year = fiscal_year_of(employee.hire_date) if employee.hire_date else fiscal_year
        if start_year > fiscal_year:
            fiscal_year = start_year
        rate = company_settings().reference_rate_usd_per_token
        rows = [
            {
                "label": row.budget.owner_label,
                "allocated": format_usd(row.allocated_micros),
                "spent": format_usd(row.spent_micros),
                "remaining": format_usd(row.remaining_micros),
                "bar": _utilisation_bar(row.allocated_micros, row.spent_micros),
                "tokens_left": f"{row.tokens_left:,}",
            }
            for row in employee_balance(employee=employee, fiscal_year=fiscal_year)
        ]
        return render_to_string(
            "admin/budgets/employee_balance.html",
            {
                "balances": rows,
                "fiscal_year": fiscal_year,
                "starts_later": fiscal_year > current_fiscal_year(),
                "hire_date": employee.hire_date,
                "rate": rate.normalize(),
            },
        )

    @admin.display(description="Latest ledger entries")
    def recent_entries(self, employee: Employee) -> str:
        entries = LedgerEntry.objects.filter(budget__employee=employee).select_related(
            "budget", "acting_user"
        )[:RECENT_ENTRIES]
        return _recent_entries_table(
            entries, _ledger_link("All entries", budget__employee__id__exact=employee.pk)
        )

    @admin.action(
        description="Allocate this fiscal year's budget from level",
        permissions=["allocate"],
    )
    def allocate_from_level(self, request, queryset):
        fiscal_year = current_fiscal_year()
        created = skipped = 0
        problems = []
        for employee in queryset.select_related("level", "user"):
            try:
                _, was_created = employee_allocate_from_level(
                    employee=employee, fiscal_year=fiscal_year, acting_user=request.user
                )
            except AllotError as error:
                problems.append(error.message)
                continue
            created += was_created
            skipped += not was_created
        self.message_user(
            request,
            f"FY{fiscal_year}: allocated {created} budget(s); {skipped} already had theirs.",
            messages.SUCCESS,
        )
        for problem in problems:
            self.message_user(request, problem, messages.WARNING)

    def has_allocate_permission(self, request) -> bool:
        return request.user.has_perm("budgets.add_ledgerentry")


admin.site.unregister(APIKey)  # the library's own model; Allot's keys are IntegrationKey


@admin.register(IntegrationKey)
class IntegrationKeyAdmin(APIKeyModelAdmin):
    """Keys are made here or with `create_api_key`; the key is shown once, then only its hash
    is kept. Revoking cannot be undone."""

    list_display = ["name", "source", "prefix", "scopes", "created", "last_used_at", "revoked"]
    list_filter = ["revoked", "source"]
    search_fields = ["name", "source", "prefix"]

    def get_readonly_fields(self, request, obj=None):
        fields = [*super().get_readonly_fields(request, obj), "last_used_at"]
        return [*fields, "source"] if obj else fields


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "employee", "budget", "held", "state", "expires_at", "source"]
    list_filter = ["state", "source"]
    search_fields = ["employee__user__email", "id"]
    list_select_related = [
        "employee__user",
        "budget__employee__user",
        "budget__team",
        "budget__project",
    ]
    show_full_result_count = False

    @admin.display(description="Held", ordering="amount_micros")
    def held(self, reservation: Reservation) -> str:
        return format_usd(reservation.amount_micros)


@admin.register(AlertClaim)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "budget", "kind", "threshold", "message"]
    list_filter = ["kind", "threshold", "budget__fiscal_year"]
    search_fields = ["message"]
    list_select_related = ["budget__employee__user", "budget__team", "budget__project"]


from budgets import price_admin  # noqa: E402,F401 - registers the price table's admin
from budgets.rollover import admin as rollover_admin  # noqa: E402,F401 - registers its admin
