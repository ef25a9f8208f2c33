from datetime import date

from django import forms

from budgets.closing import month_parse
from common import fiscal
from common.errors import AllotError
from people.selectors import company_settings


def last_complete_quarter(today) -> tuple[int, int]:
    start_month = company_settings().fiscal_year_start_month
    year, quarter = fiscal.fiscal_quarter_of(today, start_month)
    return (year, quarter - 1) if quarter > 1 else (year - 1, 4)


class ReportRequestForm(forms.Form):
    fiscal_year = forms.IntegerField(min_value=2000, max_value=2200)
    quarter = forms.TypedChoiceField(
        choices=[(q, f"Q{q}") for q in range(1, 5)], coerce=int, initial=1
    )
    include_appendix = forms.BooleanField(
        required=False,
        label="Add an appendix with every budget (long)",
        widget=forms.CheckboxInput(attrs={"style": "width: auto"}),
    )


def last_complete_month(today: date) -> date:
    first = today.replace(day=1)
    return date(first.year - 1, 12, 1) if first.month == 1 else first.replace(month=first.month - 1)


class MonthReportForm(forms.Form):
    month = forms.CharField(
        max_length=7,
        help_text="YYYY-MM",
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "2026-11"}),
    )
    include_appendix = forms.BooleanField(
        required=False,
        label="Add an appendix with every budget (long)",
        widget=forms.CheckboxInput(attrs={"style": "width: auto"}),
    )

    def clean_month(self) -> date:
        try:
            return month_parse(self.cleaned_data["month"])
        except AllotError as exc:
            raise forms.ValidationError(exc.message) from None
