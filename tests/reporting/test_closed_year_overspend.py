"""Issue 21, item 7a: usage reported after a year's close stays the closed year's overspend once
its forfeiture and carry-over are used up, and the finance report shows it."""

from datetime import timedelta

import pytest
import time_machine

from reporting.rendering import report_csv, report_html
from reporting.selectors import report_data
from tests.budgets.test_late_usage import (
    AFTER_CLOSE,
    USD,
    closed_with_ten_dollars_unused,
    event,
    ingest,
)
from tests.factories import carry_half

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def company():
    return carry_half()


def overspend_table(snapshot: dict) -> dict | None:
    return next((t for t in snapshot["tables"] if t["key"] == "closed_years_overspend"), None)


def test_the_report_shows_the_closed_years_overspend_and_what_late_usage_took_back():
    with time_machine.travel(AFTER_CLOSE + timedelta(hours=1)):
        alice, _ = closed_with_ten_dollars_unused()  # $5 carried, $5 forfeited
        before = report_data(fiscal_year=2027, quarter=1)
        ingest(event(alice, "late", "11.50"))  # $5 forfeited, $5 carried, $1.50 overspend
        snapshot = report_data(fiscal_year=2027, quarter=1)
    assert overspend_table(before) is None  # nothing to show before the late usage
    table = overspend_table(snapshot)
    assert table["section"] == "carryover"
    assert table["rows"] == [["FY2026", 1, 1_500_000, 5 * USD, 5 * USD]]
    assert table["total"] == ["Total", 1, 1_500_000, 5 * USD, 5 * USD]
    assert "Closed years: overspend and late usage" in report_html(snapshot)
    assert "FY2026" in report_csv(snapshot) and "1.50" in report_csv(snapshot)
