"""The period a report covers: the fiscal quarter (or, for the monthly report, the month), its
fiscal year to date, the same period last year, and the cutoff (the first day not covered).

The figures read the period as `quarter_period` whichever it is (the monthly report is the same
builder over a shorter period); `noun` ("quarter" or "month") is what their labels call it."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from common import fiscal
from people.selectors import company_settings


@dataclass(frozen=True)
class ReportPeriod:
    fiscal_year: int
    quarter: int
    quarter_period: fiscal.Period
    year_period: fiscal.Period
    last_year_quarter: fiscal.Period
    cutoff: date  # the first day not covered: the quarter's end, or tomorrow when it is running
    kind: str = "quarter"  # or "month": then quarter_period is that month

    @property
    def noun(self) -> str:
        return self.kind

    @property
    def title(self) -> str:
        if self.kind == "month":
            return f"{self.quarter_period.start:%B %Y}"
        return f"FY{self.fiscal_year} Q{self.quarter}"

    @property
    def quarter_days_elapsed(self) -> int:
        return max(0, (min(self.cutoff, self.quarter_period.end) - self.quarter_period.start).days)

    @property
    def year_days_elapsed(self) -> int:
        return max(0, (self.cutoff - self.year_period.start).days)

    @property
    def year_days_left(self) -> int:
        return max(0, (self.year_period.end - self.cutoff).days)

    @property
    def quarter_months(self) -> set[date]:
        return set(self.months(self.quarter_period.start, self.quarter_period.end))

    def months(self, start: date, end: date) -> list[date]:
        months, month = [], start
        while month < end:
            months.append(month)
            month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        return months


def moment(day: date) -> datetime:
    """Midnight at the start of a day in the company's zone, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def month_key(value) -> date:
    """A month as the database grouped it (a datetime, or a date), as a date in the company's
    zone."""
    if isinstance(value, datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


def report_period(*, fiscal_year: int, quarter: int, today: date | None = None) -> ReportPeriod:
    start_month = company_settings().fiscal_year_start_month
    quarter_period = fiscal.fiscal_quarter_period(fiscal_year, quarter, start_month)
    today = today or timezone.localdate()
    cutoff = min(quarter_period.end, today + timedelta(days=1))
    return ReportPeriod(
        fiscal_year=fiscal_year,
        quarter=quarter,
        quarter_period=quarter_period,
        year_period=fiscal.fiscal_year_period(fiscal_year, start_month),
        last_year_quarter=fiscal.fiscal_quarter_period(fiscal_year - 1, quarter, start_month),
        cutoff=max(cutoff, quarter_period.start),
    )


def month_report_period(*, month: date, today: date | None = None) -> ReportPeriod:
    """The monthly report's period: `month` (its first day), within its fiscal year (and the
    fiscal quarter it falls in), compared with the same month a year before."""
    start_month = company_settings().fiscal_year_start_month
    month = month.replace(day=1)
    end = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    fiscal_year, quarter = fiscal.fiscal_quarter_of(month, start_month)
    today = today or timezone.localdate()
    cutoff = min(end, today + timedelta(days=1))
    last_year = month.replace(year=month.year - 1)
    return ReportPeriod(
        fiscal_year=fiscal_year,
        quarter=quarter,
        quarter_period=fiscal.Period(month, end),
        year_period=fiscal.fiscal_year_period(fiscal_year, start_month),
        last_year_quarter=fiscal.Period(last_year, end.replace(year=end.year - 1)),
        cutoff=max(cutoff, month),
        kind="month",
    )
