from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from simple_history.admin import SimpleHistoryAdmin

from approvals.manual_entries import manual_entry_post
from approvals.models import ApprovalRequest, ApprovalRule, ApprovalStep, Delegation
from budgets.admin import LedgerEntryAdmin as BudgetsLedgerEntryAdmin
from budgets.models import LedgerEntry
from common.admin import ReadOnlyAdmin
from common.money import format_usd
from people.selectors import company_settings


@admin.register(ApprovalRule)
class ApprovalRuleAdmin(SimpleHistoryAdmin):
    list_display = ["kind", "ceiling", "steps"]
    list_filter = ["kind"]

    @admin.display(description="Up to", ordering="max_amount_micros")
    def ceiling(self, rule: ApprovalRule) -> str:
        return (
            "any amount" if rule.max_amount_micros is None else format_usd(rule.max_amount_micros)
        )


class StepInline(admin.TabularInline):
    model = ApprovalStep
    extra = 0
    can_delete = False
    fields = [
        "index",
        "role",
        "approver",
        "state",
        "assigned_at",
        "decision",
        "decided_at",
        "comment",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Decision")
    def decision(self, step: ApprovalStep) -> str:
        return step.decision_label


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdmin):
    """Decisions are made in /approvals/, by the approvers; here everything is read-only."""

    list_display = ["id", "kind", "requester", "employee", "amount", "state", "created_at"]
    list_filter = ["state", "kind", "employee__team__department", "fiscal_year"]
    search_fields = ["reason", "requester__email", "employee__user__email"]
    list_select_related = ["requester", "employee__user"]
    inlines = [StepInline]

    @admin.display(description="Amount", ordering="amount_micros")
    def amount(self, request_row: ApprovalRequest) -> str:
        return format_usd(request_row.amount_micros)


@admin.register(Delegation)
class DelegationAdmin(SimpleHistoryAdmin):
    list_display = ["delegator", "delegate", "starts_on", "ends_on", "reason"]
    search_fields = ["delegator__email", "delegate__email"]
    autocomplete_fields = ["delegator", "delegate"]


admin.site.unregister(LedgerEntry)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(BudgetsLedgerEntryAdmin):
    """The ledger's admin with a second pair of eyes: an entry above the company's threshold is
    not posted but opened as a request that someone else decides (approvals.manual_entries)."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            threshold = format_usd(company_settings().manual_entry_approval_above_micros)
            form.base_fields["amount"].help_text = (
                f"Up to {threshold} either way it is posted now; above, someone else approves "
                "it first (a request of its own in /approvals/)."
            )
        return form

    def post_entry(self, request, data: dict) -> LedgerEntry | None:
        posted = manual_entry_post(
            budget=data["budget"],
            kind=data["kind"],
            amount_micros=data["amount"],
            memo=data["memo"],
            acting_user=request.user,
        )
        if isinstance(posted, ApprovalRequest):
            request.allot_opened_request = posted
            return None
        return posted

    def log_addition(self, request, obj, message):
        # A request opened instead of an entry is audited by the request's own trail.
        if getattr(request, "allot_opened_request", None) is None:
            return super().log_addition(request, obj, message)
        return None

    def response_add(self, request, obj, post_url_continue=None):
        opened = getattr(request, "allot_opened_request", None)
        if opened is None:
            return super().response_add(request, obj, post_url_continue)
        threshold = format_usd(company_settings().manual_entry_approval_above_micros)
        self.message_user(
            request,
            f"Nothing is posted yet: above {threshold} someone else approves. {opened} waits "
            "for them; the entry is posted on their approval.",
            messages.WARNING,
        )
        return HttpResponseRedirect(opened.get_absolute_url())
