from datetime import date

from django.utils import timezone

from common import fiscal
from people.models import CompanySettings


def company_settings() -> CompanySettings:
    """The company's one settings row, created with defaults on first use."""
    settings_row, _ = CompanySettings.objects.get_or_create(pk=1)
    return settings_row


def company_today() -> date:
    """Today in the company's zone (TIME_ZONE), not UTC."""
    return timezone.localdate()


def fiscal_year_of(day: date, *, settings_row: CompanySettings | None = None) -> int:
    settings_row = settings_row or company_settings()
    return fiscal.fiscal_year_of(day, settings_row.fiscal_year_start_month)


def current_fiscal_year() -> int:
    return fiscal_year_of(company_today())


def fiscal_year_period(fiscal_year: int) -> fiscal.Period:
    return fiscal.fiscal_year_period(fiscal_year, company_settings().fiscal_year_start_month)
