from datetime import date

import pytest

from common.fiscal import (
    fiscal_quarter_of,
    fiscal_quarter_period,
    fiscal_year_of,
    fiscal_year_period,
)

APRIL = 4


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 4, 1), 2026),
        (date(2026, 3, 31), 2025),
        (date(2026, 12, 31), 2026),
        (date(2027, 1, 1), 2026),
        (date(2027, 3, 31), 2026),
        (date(2027, 4, 1), 2027),
    ],
)
def test_fiscal_year_of_a_date_with_an_april_start(day, expected):
    assert fiscal_year_of(day, APRIL) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 4, 1), (2026, 1)),
        (date(2026, 6, 30), (2026, 1)),
        (date(2026, 7, 1), (2026, 2)),
        (date(2026, 10, 15), (2026, 3)),
        (date(2027, 1, 1), (2026, 4)),
        (date(2027, 3, 31), (2026, 4)),
    ],
)
def test_fiscal_quarter_of_a_date_with_an_april_start(day, expected):
    assert fiscal_quarter_of(day, APRIL) == expected


def test_quarters_of_an_april_year_tile_the_year_exactly():
    year = fiscal_year_period(2026, APRIL)
    quarters = [fiscal_quarter_period(2026, q, APRIL) for q in (1, 2, 3, 4)]

    assert year.start == date(2026, 4, 1) and year.end == date(2027, 4, 1)
    assert [(q.start, q.end) for q in quarters] == [
        (date(2026, 4, 1), date(2026, 7, 1)),
        (date(2026, 7, 1), date(2026, 10, 1)),
        (date(2026, 10, 1), date(2027, 1, 1)),
        (date(2027, 1, 1), date(2027, 4, 1)),
    ]
    assert sum(q.days for q in quarters) == year.days == 365


def test_a_calendar_year_company_has_calendar_quarters():
    assert fiscal_year_of(date(2026, 1, 1), 1) == 2026
    assert fiscal_quarter_of(date(2026, 12, 31), 1) == (2026, 4)
    assert fiscal_year_period(2028, 1).days == 366  # a leap year


@pytest.mark.parametrize("month", [0, 13])
def test_an_impossible_start_month_is_refused(month):
    with pytest.raises(ValueError, match="start month"):
        fiscal_year_of(date(2026, 1, 1), month)


def test_every_day_falls_in_the_year_and_quarter_it_is_given():
    for start_month in range(1, 13):
        day = date(2025, 1, 1)
        while day < date(2028, 1, 1):
            year, quarter = fiscal_quarter_of(day, start_month)
            assert day in fiscal_year_period(year, start_month)
            assert day in fiscal_quarter_period(year, quarter, start_month)
            day = date.fromordinal(day.toordinal() + 13)
