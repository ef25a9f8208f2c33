from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from approvals.models import ApprovalRequest, ApprovalRule, ApprovalStep, Delegation
from common.admin import ReadOnlyAdmin
from common.money import format_usd


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
