from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from approvals.delegation import delegation_refusal
from approvals.delegation_services import delegation_create, delegation_end, delegation_validate
from approvals.manual_entries import manual_entry_post
from approvals.models import ApprovalRequest, ApprovalRule, ApprovalStep, Delegation, RequestKind
from approvals.selectors import requests_visible_to
from budgets.admin import LedgerEntryAdmin as BudgetsLedgerEntryAdmin
from budgets.models import LedgerEntry
from common.admin import HistoryAdmin, ReadOnlyAdmin
from common.errors import AllotError
from common.money import format_usd
from people.selectors import company_settings, company_today


@admin.register(ApprovalRule)
class ApprovalRuleAdmin(HistoryAdmin):
    """HR and finance edit the chains of requests; the rules of manual ledger entries (the
    second pair of eyes on their own hand-made entries) are a superuser's."""

    list_display = ["kind", "ceiling", "steps", "auto_approve", "yearly_cap"]
    list_filter = ["kind", "auto_approve"]
    SUPERUSER_KINDS = (RequestKind.LEDGER_ENTRY,)

    def _controls_the_editor(self, request, obj) -> bool:
        return (
            obj is not None and obj.kind in self.SUPERUSER_KINDS and not request.user.is_superuser
        )

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and not self._controls_the_editor(
            request, obj
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not self._controls_the_editor(
            request, obj
        )

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "kind" and not request.user.is_superuser:
            kwargs["choices"] = [
                choice for choice in db_field.choices if choice[0] not in self.SUPERUSER_KINDS
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    @admin.display(description="Up to", ordering="max_amount_micros")
    def ceiling(self, rule: ApprovalRule) -> str:
        return (
            "any amount" if rule.max_amount_micros is None else format_usd(rule.max_amount_micros)
        )

    @admin.display(description="Auto-approved a person a year", ordering="yearly_cap_micros")
    def yearly_cap(self, rule: ApprovalRule) -> str:
        return format_usd(rule.yearly_cap_micros) if rule.auto_approve else "–"


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

    def get_queryset(self, request):
        # The one rule of who sees which request: an offer's package is HR's, not finance's.
        return requests_visible_to(request.user, super().get_queryset(request))

    @admin.display(description="Amount", ordering="amount_micros")
    def amount(self, request_row: ApprovalRequest) -> str:
        return format_usd(request_row.amount_micros)


class DelegationForm(forms.ModelForm):
    """A new delegation goes through the same rules as the approvers' own form: the error shows
    on the field it is about."""

    class Meta:
        model = Delegation
        fields = ["delegator", "delegate", "starts_on", "ends_on", "reason"]

    acting_user = None  # set by DelegationAdmin.get_form: who makes it

    def clean(self):
        data = super().clean()
        if self.errors or self.instance.pk:
            return data
        try:
            delegation_validate(
                delegator=data["delegator"],
                delegate_email=data["delegate"].email,
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                acting_user=self.acting_user,
            )
        except AllotError as error:
            self.add_error(error.field if error.field in self.fields else None, error.message)
        return data


@admin.register(Delegation)
class DelegationAdmin(HistoryAdmin):
    """HR makes a delegation for an approver, or ends one early; a delegation is not edited or
    deleted (its history says who stood in when)."""

    form = DelegationForm
    list_display = ["delegator", "delegate", "starts_on", "ends_on", "ended_at", "in_force"]
    list_select_related = ["delegator", "delegate"]
    search_fields = ["delegator__email", "delegate__email"]
    autocomplete_fields = ["delegator", "delegate"]
    readonly_fields = ["ended_at", "ended_by"]
    actions = ["end_now"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return ["delegator", "delegate", "starts_on", "ends_on", "reason", *self.readonly_fields]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # end it instead: the history stays

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.acting_user = request.user
        return form

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return  # nothing on a stored delegation is edited here
        data = form.cleaned_data
        made = delegation_create(
            delegator=data["delegator"],
            delegate_email=data["delegate"].email,
            starts_on=data["starts_on"],
            ends_on=data["ends_on"],
            reason=data.get("reason") or "",
            acting_user=request.user,
        )
        obj.pk = made.pk

    @admin.display(description="In force today")
    def in_force(self, delegation: Delegation) -> str:
        return delegation_refusal(delegation, day=company_today()) or "yes"

    @admin.action(description="End the selected delegations now", permissions=["change"])
    def end_now(self, request, queryset) -> None:
        ended = 0
        for delegation in queryset:
            try:
                delegation_end(delegation=delegation, acting_user=request.user)
            except AllotError as error:
                self.message_user(request, f"{delegation}: {error.message}", messages.WARNING)
            else:
                ended += 1
        self.message_user(request, f"{ended} delegation(s) ended.")


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
                f"Up to {threshold} either way, with what you posted alone in the last 24 "
                "hours, it is posted now; above, someone else approves it first (a request of "
                "its own in /approvals/)."
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
            f"Nothing is posted yet: above {threshold}, someone else approves. {opened} waits "
            "for them; the entry is posted on their approval.",
            messages.WARNING,
        )
        return HttpResponseRedirect(opened.get_absolute_url())
