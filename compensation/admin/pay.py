"""HR's pay records (what each employee is paid, for total rewards statements) and the
statement runs (read-only: they are asked for and followed on /rewards/)."""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from common.admin import HistoryAdmin, ReadOnlyAdmin
from common.errors import AllotError
from common.money import format_usd
from compensation import services
from compensation.models import PayRecord, StatementRun
from people.selectors import company_today, fiscal_year_of


class PayRecordForm(forms.ModelForm):
    class Meta:
        model = PayRecord
        fields = [
            "employee",
            "effective_from",
            "base_salary_micros",
            "bonus_micros",
            "sign_on_bonus_micros",
            "stock_option_count",
            "stock_annual_value_micros",
            "health_plan_cost_micros",
            "match_401k_percent",
            "professional_development_micros",
            "note",
        ]

    def clean(self):
        cleaned = super().clean()
        employee, effective_from = cleaned.get("employee"), cleaned.get("effective_from")
        if employee and effective_from:
            try:
                services.pay_record_check(
                    employee=employee, effective_from=effective_from, exclude_pk=self.instance.pk
                )
            except AllotError as exc:
                self.add_error(exc.field, exc.message)
        return cleaned


@admin.register(PayRecord)
class PayRecordAdmin(HistoryAdmin):
    form = PayRecordForm
    list_display = ["employee", "effective_from", "salary", "stock", "source", "statement"]
    list_filter = ["source", "effective_from"]
    list_select_related = ["employee__user"]
    search_fields = [
        "employee__user__email",
        "employee__user__first_name",
        "employee__user__last_name",
    ]
    autocomplete_fields = ["employee"]
    date_hierarchy = "effective_from"
    readonly_fields = ["source", "offer", "created_by", "created_at"]

    @admin.display(description="Base salary", ordering="base_salary_micros")
    def salary(self, record: PayRecord) -> str:
        return format_usd(record.base_salary_micros)

    @admin.display(description="Stock (a year)", ordering="stock_annual_value_micros")
    def stock(self, record: PayRecord) -> str:
        return format_usd(record.stock_annual_value_micros)

    @admin.display(description="Statement")
    def statement(self, record: PayRecord) -> str:
        year = fiscal_year_of(company_today())
        url = reverse("compensation:rewards-pdf", args=[record.employee_id, year])
        return format_html('<a href="{}">FY{} PDF</a>', url, year)

    def save_model(self, request, obj, form, change) -> None:
        services.pay_record_save(record=obj, acting_user=request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a pay record is history: record the next one instead


@admin.register(StatementRun)
class StatementRunAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "state", "done", "total", "without_pay", "requested_at"]
    list_filter = ["state", "fiscal_year"]
