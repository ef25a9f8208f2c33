"""Finance's month in the admin: closed months (close, ask to reopen, confirm as a second
finance user, download the journal) and the journal's account codes. Every write calls
`budgets.closing`; the journal is `reporting.journal`."""

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from budgets.closing import (
    month_close,
    month_close_check,
    month_parse,
    month_reopen_confirm,
    month_reopen_request,
)
from budgets.models import MonthClose
from common.errors import AllotError
from people.roles import FINANCE, has_role
from reporting.models import JournalAccount


class MonthCloseForm(forms.ModelForm):
    month_text = forms.CharField(label="Month", help_text="YYYY-MM, e.g. 2026-11.")

    class Meta:
        model = MonthClose
        fields = []

    acting_user = None  # set by the admin: the rules depend on who closes

    def clean_month_text(self):
        try:
            month = month_parse(self.cleaned_data["month_text"])
            month_close_check(month=month, acting_user=self.acting_user)
        except AllotError as error:
            raise forms.ValidationError(error.message) from None
        return month


@admin.register(MonthClose)
class MonthCloseAdmin(admin.ModelAdmin):
    form = MonthCloseForm
    list_display = ["month_label", "closed_at", "closed_by", "reopen_requested_by", "journal"]
    list_select_related = ["closed_by", "reopen_requested_by"]
    actions = ["reopen_request", "reopen_confirm"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a closed month is never edited: it is reopened, by two people

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return has_role(request.user, FINANCE) and super().has_add_permission(request)

    def has_reopen_permission(self, request) -> bool:
        return has_role(request.user, FINANCE) and request.user.has_perm("budgets.add_monthclose")

    @admin.display(description="Month", ordering="month")
    def month_label(self, closed: MonthClose) -> str:
        return f"{closed.month:%Y-%m}"

    @admin.display(description="Journal")
    def journal(self, closed: MonthClose) -> str:
        return format_html('<a href="/reports/journal/{}/">CSV</a>', f"{closed.month:%Y-%m}")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.acting_user = request.user
        return form

    def save_model(self, request, obj, form, change):
        # The service writes the row (the form has checked its rules); the admin's own save
        # would skip them.
        saved = month_close(month=form.cleaned_data["month_text"], acting_user=request.user)
        obj.pk, obj.month, obj.closed_at, obj.closed_by = (
            saved.pk,
            saved.month,
            saved.closed_at,
            saved.closed_by,
        )
        obj._state.adding = False

    @admin.action(
        description="Ask to reopen (a second finance user confirms)", permissions=["reopen"]
    )
    def reopen_request(self, request, queryset):
        for closed in queryset:
            try:
                month_reopen_request(month=closed.month, acting_user=request.user)
            except AllotError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Asked to reopen {closed.month:%Y-%m}; another finance user must confirm.",
                    messages.SUCCESS,
                )

    @admin.action(
        description="Confirm reopening (as the second finance user)", permissions=["reopen"]
    )
    def reopen_confirm(self, request, queryset):
        for closed in queryset:
            try:
                month_reopen_confirm(month=closed.month, acting_user=request.user)
            except AllotError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                self.message_user(request, f"{closed.month:%Y-%m} is open again.", messages.SUCCESS)


@admin.register(JournalAccount)
class JournalAccountAdmin(admin.ModelAdmin):
    list_display = [
        "kind",
        "debit_account",
        "debit_account_name",
        "credit_account",
        "credit_account_name",
    ]
    ordering = ["kind"]
