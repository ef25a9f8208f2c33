"""The dashboard's spend against the budget: running total, projection, the budget line."""

from datetime import date, datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from budgets.cumulative import budget_cumulative_spend
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_ingest
from tests.factories import EmployeeFactory

pytestmark = pytest.mark.django_db

MILLION = 10**6


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.get_default_timezone())


def spend(event_id: str, usd: str, when: datetime) -> None:
    usage_ingest(
        events=[
            {
                "id": event_id,
                "employee": "eng@example.com",
                "model": "claude-sonnet-4",
                "input_tokens": 10,
                "output_tokens": 10,
                "cost_usd": usd,
                "occurred_at": when.isoformat(),
                "category": "debugging",
            }
        ]
    )


@pytest.fixture
def budget():
    engineer = EmployeeFactory(user__email="eng@example.com")
    with time_machine.travel(at(2026, 1, 2, 9), tick=False):
        budget, _ = budget_create(fiscal_year=2026, employee=engineer)
        budget_allocate(budget=budget, amount_micros=1_000 * MILLION, acting_user=None)
    return budget


def test_series_ends_at_spent_total_and_projects_the_rate_so_far(budget):
    with time_machine.travel(at(2026, 1, 20, 9), tick=False):
        spend("jan", "100", at(2026, 1, 15, 9))
    with time_machine.travel(at(2026, 3, 1, 9), tick=False):
        spend("feb", "80", at(2026, 2, 10, 9))
        spend("mar", "1", at(2026, 3, 1, 8))
    budget.refresh_from_db()
    assert budget.spent_micros == 181 * MILLION

    # March 1st, 2026: day 60 of a 365-day year.
    series = budget_cumulative_spend(budget=budget, today=date(2026, 3, 1))
    assert series.months[0] == date(2026, 1, 1) and len(series.months) == 12
    assert series.spent[:3] == [100 * MILLION, 180 * MILLION, 181 * MILLION]
    assert series.spent[3:] == [None] * 9
    assert series.spent[2] == budget.spent_micros
    assert series.projected[:2] == [None, None]
    assert series.projected[2] == 181 * MILLION
    # End of April is day 120: twice the days elapsed, twice the spend.
    assert series.projected[3] == 362 * MILLION
    # 181 × 365 / 60 = 1101.083… dollars, rounded half-up to the micro.
    assert series.projected_year_end_micros == 1_101_083_333
    assert series.projected[-1] == series.projected_year_end_micros
    assert series.allocated_micros == 1_000 * MILLION


def test_a_year_that_has_ended_shows_every_month_and_no_projection(budget):
    with time_machine.travel(at(2026, 6, 3, 9), tick=False):
        spend("jun", "50", at(2026, 6, 2, 9))
    budget.refresh_from_db()
    series = budget_cumulative_spend(budget=budget, today=date(2027, 1, 5))
    assert series.spent[-1] == 50 * MILLION == budget.spent_micros
    assert series.spent[4] == 0 and series.spent[5] == 50 * MILLION
    assert series.projected == [None] * 12 and series.projected_year_end_micros is None


def test_dashboard_draws_it_beside_the_monthly_bars(client, budget):
    with time_machine.travel(at(2026, 3, 1, 9), tick=False):
        spend("mar", "120", at(2026, 3, 1, 8))
        client.force_login(budget.employee.user)
        page = client.get(reverse("dashboard")).content.decode()
    assert "Spend against the budget" in page and "Spend by month" in page
    assert 'class="limit"' in page and 'class="projection"' in page and 'class="actual"' in page
    # 120 over 60 days, carried to 365: $730.00, below the $1,000.00 budget.
    assert "about $730.00" in page and "over the budget" not in page
