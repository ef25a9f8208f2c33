"""Holds open when the year closes: what they free later is forfeited on the closed budget."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from budgets.authorize import authorize
from budgets.models import Budget, EntryKind, LedgerEntry, RolloverState
from budgets.rollover import (
    FreedHold,
    freed_holds_forfeit,
    reservations_release_expired,
    rollover_confirm,
    rollover_execute,
    rollover_preview,
)
from budgets.rollover.holds import hold_forfeiture_key
from budgets.services import budget_allocate, employee_allocate_from_level
from budgets.usage import usage_ingest
from tests.budgets.test_ledger import assert_totals_match_entries
from tests.factories import EmployeeFactory, carry_half

pytestmark = pytest.mark.django_db
USD = 10**6
MID = 100_000 * USD
HELD_AT = datetime(2026, 12, 31, 15, tzinfo=UTC)  # the last day of FY2026
AFTER_CLOSE = datetime(2027, 1, 4, 15, tzinfo=UTC)
# The holds outlive the close (calls in flight then: the close gives back only holds past their
# time) and are over two days later.
HOLD_SECONDS = 5 * 24 * 3600
HOLD_OVER = HELD_AT + timedelta(days=6)


@pytest.fixture(autouse=True)
def company():
    return carry_half()


@pytest.fixture(autouse=True)
def after_the_new_year():
    with time_machine.travel(AFTER_CLOSE):
        yield


def engineer():
    employee = EmployeeFactory()
    employee_allocate_from_level(employee=employee, fiscal_year=2026, acting_user=None)
    return employee


def hold(employee, dollars):
    result = authorize(
        employee=employee,
        estimated_cost_micros=dollars * USD,
        reserve=True,
        hold_seconds=HOLD_SECONDS,
        now=HELD_AT,
    )
    assert result.allowed and result.budget.fiscal_year == 2026
    return result.reservation


def close_fy2026(**kwargs):
    run = rollover_preview(fiscal_year=2026, acting_user=None)
    run = rollover_confirm(run=run, acting_user=None, enqueue=False)
    return rollover_execute(run=run, **kwargs)


def usage(employee, event_id: str, cost_usd: str, *, on: datetime, held=None) -> dict:
    """A gateway event of `cost_usd` at `on`, settling the reservation `held` if given."""
    return {
        "id": event_id,
        "employee": employee.user.email,
        "model": "m",
        "input_tokens": 1,
        "output_tokens": 1,
        "cost_usd": cost_usd,
        "occurred_at": on.isoformat(),
        **({"reservation": str(held.pk)} if held else {}),
    }


def settle(employee, reservation, cost_usd: str, *, on: datetime, event_id: str = "settles"):
    result = usage_ingest(
        source="gateway", events=[usage(employee, event_id, cost_usd, on=on, held=reservation)]
    )
    assert result.accepted == 1, result.rejected
    return result


def old_budget(employee) -> Budget:
    return Budget.objects.get(employee=employee, fiscal_year=2026)


def new_budget(employee) -> Budget:
    return Budget.objects.get(employee=employee, fiscal_year=2027)


def hold_forfeitures(budget: Budget) -> list[int]:
    entries = budget.entries.filter(
        kind=EntryKind.FORFEITURE, idempotency_key__startswith="hold-forfeiture:"
    )
    return list(entries.values_list("amount_micros", flat=True))


def late_reversals(budget: Budget) -> list[int]:
    """The forfeiture reversed to pay late usage (budgets.rollover.late)."""
    entries = budget.entries.filter(
        kind=EntryKind.FORFEITURE, idempotency_key__startswith="late-usage:"
    )
    return list(entries.values_list("amount_micros", flat=True))


def totals(budget: Budget) -> tuple[int, int, int, int]:
    budget.refresh_from_db()
    return (
        budget.allocated_micros,
        budget.spent_micros,
        budget.reserved_micros,
        budget.remaining_micros,
    )


def test_a_hold_that_expires_after_the_close_is_forfeited_once():
    # given FY2026 closed while $6 of the budget was held
    alice = engineer()
    reservation = hold(alice, 6)
    run = close_fy2026().run
    old = old_budget(alice)
    assert totals(old) == (6 * USD, 0, 6 * USD, 0)  # the close split all but the hold
    carried = new_budget(alice).carried_over_micros
    assert carried == (MID - 6 * USD) // 2

    # when the hold expires
    released = reservations_release_expired(now=HOLD_OVER)

    # then the $6 it frees is forfeited on the closed budget, for the run that closed it
    assert released == 1
    entry = old.entries.get(idempotency_key=hold_forfeiture_key(reservation.pk))
    assert (entry.kind, entry.amount_micros) == (EntryKind.FORFEITURE, -6 * USD)
    assert entry.rollover_run == run and entry.acting_user is None
    assert totals(old) == (0, 0, 0, 0)  # back to what the close left
    assert_totals_match_entries(old)
    assert new_budget(alice).carried_over_micros == carried  # carryover was decided at the close

    # and releasing again, or retrying the forfeiture, posts nothing more
    budget_allocate(budget=old, amount_micros=10 * USD, acting_user=None)  # money it could take
    entries = LedgerEntry.objects.count()
    assert reservations_release_expired(now=HOLD_OVER + timedelta(days=1)) == 0
    retried = freed_holds_forfeit(
        freed=[FreedHold(reservation.pk, old.pk, 6 * USD)], now=timezone.now()
    )
    assert retried == []
    assert LedgerEntry.objects.count() == entries
    assert totals(old) == (10 * USD, 0, 0, 10 * USD)
    assert hold_forfeitures(old) == [-6 * USD]


def test_a_hold_settled_for_less_after_the_close_forfeits_the_difference():
    # given a $6 hold open when FY2026 closed
    alice = engineer()
    reservation = hold(alice, 6)
    close_fy2026()
    carried = new_budget(alice).allocated_micros

    # when the call, made in FY2026, is reported after the close and cost $4.25
    settle(alice, reservation, "4.25", on=HELD_AT + timedelta(minutes=1))

    # then the cost replaces the hold and the $1.75 left of it is forfeited
    old = old_budget(alice)
    assert hold_forfeitures(old) == [-1_750_000]
    assert totals(old) == (4_250_000, 4_250_000, 0, 0)
    assert_totals_match_entries(old)
    assert new_budget(alice).allocated_micros == carried


def test_a_hold_settled_by_usage_of_the_new_year_is_freed_whole_and_forfeited():
    # given a $6 hold open when FY2026 closed
    alice = engineer()
    reservation = hold(alice, 6)
    close_fy2026()
    new = new_budget(alice)

    # when usage of FY2027 settles it
    settle(alice, reservation, "4.25", on=AFTER_CLOSE - timedelta(hours=1))

    # then the old budget forfeits the whole hold and the new year pays the usage as usual
    old = old_budget(alice)
    assert hold_forfeitures(old) == [-6 * USD]
    assert totals(old) == (0, 0, 0, 0)
    assert_totals_match_entries(old)
    assert totals(new) == (new.allocated_micros, 4_250_000, 0, new.allocated_micros - 4_250_000)
    assert hold_forfeitures(new) == []
    assert_totals_match_entries(new)


def test_a_hold_settled_for_more_after_the_close_takes_the_rest_from_the_forfeiture():
    # given a $6 hold open when FY2026 closed
    alice = engineer()
    reservation = hold(alice, 6)
    close_fy2026()

    # when the FY2026 call is reported after the close at $8
    settle(alice, reservation, "8", on=HELD_AT + timedelta(minutes=1))

    # then it is recorded as usage on the closed budget, no hold is forfeited, and the $2 beyond
    # the hold is late usage: paid by reversing $2 of what the close forfeited
    old = old_budget(alice)
    assert hold_forfeitures(old) == []
    assert late_reversals(old) == [2 * USD]
    assert totals(old) == (8 * USD, 8 * USD, 0, 0)
    assert_totals_match_entries(old)


def test_a_hold_released_on_a_year_not_closed_forfeits_nothing():
    # given two holds on FY2026 and no rollover
    alice = engineer()
    expiring = hold(alice, 6)
    settling = hold(alice, 3)
    settling.expires_at = HELD_AT + timedelta(days=30)
    settling.save(update_fields=["expires_at"])

    # when one expires and the other is settled for less
    assert reservations_release_expired(now=HOLD_OVER) == 1
    settle(alice, settling, "1", on=HELD_AT + timedelta(minutes=1))

    # then both are simply given back, as before
    old = old_budget(alice)
    assert not old.entries.filter(kind=EntryKind.FORFEITURE).exists()
    assert totals(old) == (MID, USD, 0, MID - USD)
    assert_totals_match_entries(old)
    assert expiring.budget_id == settling.budget_id == old.pk


def test_closed_means_the_budgets_own_chunk_committed_not_the_whole_run():
    # given a rollover that has closed the first budget only (it is still running)
    alice, bob = engineer(), engineer()
    hold(alice, 6)
    hold(bob, 6)
    partial = close_fy2026(chunk_size=1, max_chunks=1)
    assert partial.run.state == RolloverState.RUNNING
    assert old_budget(alice).pk < old_budget(bob).pk

    # when both holds expire
    reservations_release_expired(now=HOLD_OVER)

    # then alice's (closed) is forfeited; bob's (not closed yet) is unused money for his close
    assert hold_forfeitures(old_budget(alice)) == [-6 * USD]
    assert hold_forfeitures(old_budget(bob)) == []
    assert rollover_execute(run=partial.run, chunk_size=1).finished
    for employee in (alice, bob):
        old = old_budget(employee)
        assert totals(old) == (0, 0, 0, 0)
        assert_totals_match_entries(old)
    assert new_budget(bob).carried_over_micros == MID // 2  # his close counted the freed $6
    assert new_budget(alice).carried_over_micros == (MID - 6 * USD) // 2


def test_only_batches_that_settle_holds_look_for_a_closed_year():
    # given a budget whose year is open
    alice = engineer()
    reservation = hold(alice, 6)
    exact = hold(alice, 2)

    def rollover_lookups(events) -> int:
        with CaptureQueriesContext(connection) as queries:
            result = usage_ingest(source="gateway", events=events)
        assert result.accepted == len(events), result.rejected
        return sum("rolloveritem" in query["sql"].lower() for query in queries)

    def event(event_id, cost_usd, held=None) -> dict:
        return usage(alice, event_id, cost_usd, on=HELD_AT + timedelta(minutes=1), held=held)

    # then a batch without holds, on a year that is not over, runs no new query
    with time_machine.travel(HELD_AT + timedelta(hours=1)):
        assert rollover_lookups([event("plain-1", "1"), event("plain-2", "2")]) == 0
    # and one settling holds looks once, however many it settles
    assert rollover_lookups([event("exact", "2", exact), event("less", "1", reservation)]) == 1
    # and one charging a year that is over (late usage) looks once too, for all its budgets
    assert rollover_lookups([event("late-1", "1"), event("late-2", "2")]) == 1
    assert not LedgerEntry.objects.filter(kind=EntryKind.FORFEITURE).exists()


@pytest.mark.parametrize("one_batch", [True, False], ids=["one batch", "two batches"])
def test_what_is_forfeited_does_not_depend_on_how_the_gateway_batches(one_batch):
    # given a $6 hold on FY2026, closed, then settled at $4 and followed by $2 of late usage
    alice = engineer()
    reservation = hold(alice, 6)
    close_fy2026()
    settles = usage(alice, "settles", "4", on=HELD_AT + timedelta(minutes=1), held=reservation)
    late = usage(alice, "late", "2", on=HELD_AT + timedelta(minutes=2))
    if one_batch:
        assert usage_ingest(source="gateway", events=[late, settles]).accepted == 2
    else:
        assert usage_ingest(source="gateway", events=[settles]).accepted == 1
        assert usage_ingest(source="gateway", events=[late]).accepted == 1
    # then the $2 the hold gave back is forfeited when it is given back, in call order, and the
    # late usage after it is paid by reversing $2 of the year's forfeiture, either way
    old = old_budget(alice)
    assert hold_forfeitures(old) == [-2 * USD]
    assert late_reversals(old) == [2 * USD]
    assert old.remaining_micros == 0
    assert old.spent_micros == 6 * USD
    assert_totals_match_entries(old)


def test_a_closed_years_budget_raises_no_alerts_after_a_hold_is_forfeited(
    django_capture_on_commit_callbacks,
):
    # given a hold on FY2026 that a settlement for less frees after the close
    from budgets.models import AlertClaim
    from notifications.models import Notification

    alice = engineer()
    alice.manager = EmployeeFactory()
    alice.save()
    reservation = hold(alice, 6)
    close_fy2026()
    AlertClaim.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        settle(alice, reservation, "4.25", on=HELD_AT + timedelta(minutes=1))
    # then the forfeiture leaves allocated == spent, which must not read as "100 % used"
    old = old_budget(alice)
    assert hold_forfeitures(old) == [-1_750_000]
    assert old.allocated_micros == old.spent_micros
    assert not AlertClaim.objects.filter(budget=old).exists()
    assert not Notification.objects.exists()


def test_the_run_and_its_items_record_what_holds_forfeit_after_the_close(client):
    # given two holds open when FY2026 closed
    from budgets.models import RolloverItem
    from budgets.rollover import run_hold_forfeited_micros
    from tests.factories import finance_user

    alice, bob = engineer(), engineer()
    expiring = hold(alice, 6)
    settling = hold(bob, 6)
    run = close_fy2026().run
    assert run_hold_forfeited_micros(run.pk) == 0

    # when bob's is settled for $4.25 and alice's expires
    settle(bob, settling, "4.25", on=HELD_AT + timedelta(minutes=1))
    reservations_release_expired(now=HOLD_OVER)

    # then each closed budget's item holds what its holds forfeited, the run their sum, and the
    # run's forfeiture entries add up to the close's forfeitures plus the later ones
    items = {item.employee_id: item for item in RolloverItem.objects.filter(run=run)}
    for employee, forfeited in ((alice, 6 * USD), (bob, 1_750_000)):
        assert items[employee.pk].hold_forfeited_micros == forfeited
        assert hold_forfeitures(old_budget(employee)) == [-forfeited]
    assert run_hold_forfeited_micros(run.pk) == 7_750_000
    run.refresh_from_db()
    entries = LedgerEntry.objects.filter(rollover_run=run, kind=EntryKind.FORFEITURE)
    assert -sum(entries.values_list("amount_micros", flat=True)) == (
        run.done_forfeited_micros + 7_750_000
    )
    assert expiring.budget_id == items[alice.pk].source_budget_id

    # and the run's page shows them apart from what the close itself forfeited
    client.force_login(finance_user())
    page = client.get(f"/admin/budgets/rolloverrun/{run.pk}/preview/").content.decode()
    assert "Forfeited later: holds freed after the close" in page
    assert "$7.75" in page
    assert "+ $6.00 later (holds)" in page


@pytest.mark.parametrize("opened_by", ["usage", "hr_allocation", "approved_increase"])
def test_whoever_opens_the_new_year_keeps_last_years_hard_limit(opened_by):
    # given alice's FY2026 budget with a hard limit, overdraft and thresholds of its own
    from budgets.models import Enforcement
    from budgets.services import budget_create

    alice = engineer()
    Budget.objects.filter(pk=old_budget(alice).pk).update(
        enforcement=Enforcement.HARD_OVERDRAFT,
        overdraft_percent=Decimal(10),
        alert_thresholds=[75, 100],
    )
    # when something opens FY2027 before the rollover does
    if opened_by == "usage":
        settle_free = usage(alice, "jan", "1", on=AFTER_CLOSE)
        assert usage_ingest(source="gateway", events=[settle_free]).accepted == 1
    elif opened_by == "hr_allocation":
        employee_allocate_from_level(employee=alice, fiscal_year=2027, acting_user=None)
    else:  # approvals/effects.py: an increase approved for FY2027
        budget_create(fiscal_year=2027, employee=alice)

    # then the budget it opens has last year's rules, and the rollover keeps them
    new = new_budget(alice)
    assert (new.enforcement, new.overdraft_percent, new.alert_thresholds) == (
        Enforcement.HARD_OVERDRAFT,
        Decimal(10),
        [75, 100],
    )
    close_fy2026()
    new.refresh_from_db()
    assert new.enforcement == Enforcement.HARD_OVERDRAFT
    too_much = authorize(employee=alice, estimated_cost_micros=new.allocated_micros * 2)
    assert not too_much.allowed
