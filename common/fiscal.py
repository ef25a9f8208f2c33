"""Fiscal calendar arithmetic, pure (no ORM), for a year that starts on the first of any month.

A fiscal year is named by the calendar year in which it starts: with an April start, fiscal
year 2026 runs from 2026-04-01 to 2027-03-31. Quarters are three-month blocks from the start.
"""

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Period:
    """A half-open date range [start, end)."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def __contains__(self, day: date) -> bool:
        return self.start <= day < self.end


def _check_month(start_month: int) -> None:
    if not 1 <= start_month <= 12:
        raise ValueError(f"fiscal year start month must be 1..12, not {start_month}")


def _add_months(year: int, month: int, months: int) -> date:
    index = year * 12 + (month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def fiscal_year_of(day: date, start_month: int) -> int:
    _check_month(start_month)
    return day.year if day.month >= start_month else day.year - 1


def fiscal_year_period(fiscal_year: int, start_month: int) -> Period:
    _check_month(start_month)
    start = date(fiscal_year, start_month, 1)
    return Period(start, _add_months(fiscal_year, start_month, 12))


def fiscal_quarter_of(day: date, start_month: int) -> tuple[int, int]:
    """(fiscal year, quarter 1..4) of a date."""
    year = fiscal_year_of(day, start_month)
    months_in = (day.month - start_month) % 12
    return year, months_in // 3 + 1


def fiscal_quarter_period(fiscal_year: int, quarter: int, start_month: int) -> Period:
    _check_month(start_month)
    if not 1 <= quarter <= 4:
        raise ValueError(f"quarter must be 1..4, not {quarter}")
    start = _add_months(fiscal_year, start_month, (quarter - 1) * 3)
    return Period(start, _add_months(start.year, start.month, 3))
