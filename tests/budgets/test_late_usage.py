"""Usage of a closed year reported after its close (budgets.rollover.late): paid first from what
the year forfeited, then from what it carried over, the rest left as the closed year's overspend."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from budgets.models import Budget, EntryKind, LedgerEntry
from budgets.rollover import rollover_confirm, rollover_execute, rollover_preview
from budgets.services import employee_allocate_from_level
from budgets.usage import usage_ingest
from tests.budgets.test_ledger import assert_totals_match_entries
from tests.factories import EmployeeFactory, carry_half

pytestmark = pytest.mark.django_db
USD = 10**6
MID = 100_000 * USD
IN_FY2026 = datetime(2026, 12, 30, 15, tzinfo=UTC)
AFTER_CLOSE = datetime(2027, 1, 4, 15, tzinfo=UTC)


@pytest.fixture(autouse=True)
def company():
    return carry_half()


def event(employee, event_id: str, cost_usd: str, on: datetime = IN_FY2026) -> dict:
    return {
        "id": event_id,
        "employee": employee.user.email,
        "model": "m",
        "input_tokens": 1,
        "output_tokens": 1,
        "cost_usd": cost_usd,
        "occurred_at": on.isoformat(),
    }


def ingest(*events):
    result = usage_ingest(source="gateway", events=list(events))
    assert result.rejected == [], result.rejected
    return result


def closed_with_ten_dollars_unused():
    """Alice's FY2026 budget closed with $10 unused: $5 carried into FY2027, $5 forfeited."""
    alice = EmployeeFactory()
    employee_allocate_from_level(employee=alice, fiscal_year=2026, acting_user=None)
    with time_machine.travel(IN_FY2026):
        ingest(event(alice, "year", str((MID - 10 * USD) // USD)))
    with time_machine.travel(AFTER_CLOSE):
        run = rollover_preview(fiscal_year=2026, acting_user=None)
        run = rollover_confirm(run=run, acting_user=None, enqueue=False)
        rollover_execute(run=run)
    old, new = budgets(alice)
    assert (old.allocated_micros, old.remaining_micros) == (MID - 10 * USD, 0)
    assert new.carried_over_micros == 5 * USD
    return alice, run


def budgets(employee) -> tuple[Budget, Budget]:
    return (
        Budget.objects.get(employee=employee, fiscal_year=2026),
        Budget.objects.get(employee=employee, fiscal_year=2027),
    )


def late(budget: Budget, kind: str) -> list[int]:
    entries = budget.entries.filter(kind=kind, idempotency_key__startswith="late-usage:")
    return list(entries.order_by("pk").values_list("amount_micros", flat=True))


@pytest.fixture
def after_close():
    with time_machine.travel(AFTER_CLOSE + timedelta(hours=1)):
        yield


def test_late_usage_first_reverses_the_forfeiture(after_close):
    alice, run = closed_with_ten_dollars_unused()
    ingest(event(alice, "late", "3"))
    old, new = budgets(alice)
    assert late(old, EntryKind.FORFEITURE) == [3 * USD]
    assert old.entries.get(idempotency_key__startswith="late-usage:").rollover_run == run
    assert late(old, EntryKind.CARRYOVER_OUT) == [] and late(new, EntryKind.CARRYOVER_IN) == []
    assert old.remaining_micros == 0 and old.spent_micros == MID - 7 * USD
    assert new.carried_over_micros == 5 * USD and new.allocated_micros == MID + 5 * USD
    for budget in (old, new):
        assert_totals_match_entries(budget)


def test_then_takes_back_the_carryover_and_leaves_the_rest_as_overspend(after_close):
    alice, _ = closed_with_ten_dollars_unused()
    ingest(event(alice, "late-1", "4"))  # $4 of the $5 forfeited
    ingest(event(alice, "late-2", "3.50"))  # $1 forfeited, then $2.50 of the $5 carried
    ingest(event(alice, "late-3", "4"))  # $2.50 carried left, then $1.50 overspend
    old, new = budgets(alice)
    assert late(old, EntryKind.FORFEITURE) == [4 * USD, 1 * USD]
    assert late(old, EntryKind.CARRYOVER_OUT) == [2_500_000, 2_500_000]
    assert late(new, EntryKind.CARRYOVER_IN) == [-2_500_000, -2_500_000]
    # the closed year shows its overspend; the new year lost its carry-in and is not negative
    assert old.remaining_micros == -1_500_000
    assert old.spent_micros == MID - 10 * USD + 11_500_000
    assert new.carried_over_micros == 0 and new.allocated_micros == MID
    assert new.remaining_micros == MID
    for budget in (old, new):
        assert_totals_match_entries(budget)


def test_a_carry_in_already_spent_is_not_taken_back(after_close):
    alice, _ = closed_with_ten_dollars_unused()
    # FY2027 spends all but $2 of its budget, carry-in included
    ingest(
        event(alice, "jan-1", "99999", on=AFTER_CLOSE),
        event(alice, "jan-2", "4", on=AFTER_CLOSE),
    )
    ingest(event(alice, "late", "9"))
    old, new = budgets(alice)
    assert late(old, EntryKind.FORFEITURE) == [5 * USD]
    assert late(new, EntryKind.CARRYOVER_IN) == [-2 * USD]
    assert new.remaining_micros == 0  # never a silent negative budget
    assert old.remaining_micros == -2 * USD  # the rest: overspend of the closed year
    for budget in (old, new):
        assert_totals_match_entries(budget)


def test_one_batch_of_late_and_new_usage_and_a_replay(after_close):
    alice, _ = closed_with_ten_dollars_unused()
    batch = [event(alice, "late", "7"), event(alice, "jan", "1", on=AFTER_CLOSE)]
    ingest(*batch)
    entries = LedgerEntry.objects.count()
    replay = ingest(*batch)
    assert replay.duplicates == 2 and LedgerEntry.objects.count() == entries
    old, new = budgets(alice)
    assert late(old, EntryKind.FORFEITURE) == [5 * USD]
    assert late(new, EntryKind.CARRYOVER_IN) == [-2 * USD]
    assert new.carried_over_micros == 3 * USD
    assert new.remaining_micros == MID + 3 * USD - USD
    assert old.remaining_micros == 0
    for budget in (old, new):
        assert_totals_match_entries(budget)


def test_usage_of_a_year_over_but_not_closed_is_left_to_the_close():
    alice = EmployeeFactory()
    employee_allocate_from_level(employee=alice, fiscal_year=2026, acting_user=None)
    with time_machine.travel(AFTER_CLOSE):
        ingest(event(alice, "late", "4"))
        assert not LedgerEntry.objects.filter(idempotency_key__startswith="late-usage:").exists()
        run = rollover_preview(fiscal_year=2026, acting_user=None)
        rollover_execute(run=rollover_confirm(run=run, acting_user=None, enqueue=False))
    old, new = budgets(alice)
    assert new.carried_over_micros == (MID - 4 * USD) // 2  # the close counted it
    assert old.remaining_micros == 0
