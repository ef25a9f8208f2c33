from django import forms

from common import fiscal
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
