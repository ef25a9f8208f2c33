"""Two rollover runners at once on PostgreSQL: each owner is done exactly once."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import close_old_connections, connection

from budgets.models import Budget, EntryKind, LedgerEntry, RolloverItem, RolloverState
from budgets.rollover import rollover_confirm, rollover_execute, rollover_preview
from budgets.services import employee_allocate_from_level
from tests.factories import EmployeeFactory, carry_half

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks and concurrent writers need PostgreSQL; SQLite serialises writers",
    ),
]
RUNNERS = 4


def test_concurrent_runners_never_do_an_owner_twice():
    employees = [EmployeeFactory() for _ in range(60)]
    for employee in employees:
        employee_allocate_from_level(employee=employee, fiscal_year=2026, acting_user=None)
    extra = [EmployeeFactory() for _ in range(15)]  # no FY2026 budget: allocation only
    run = rollover_preview(fiscal_year=2026, acting_user=None)
    run = rollover_confirm(run=run, acting_user=None, enqueue=False)
    barrier = Barrier(RUNNERS)

    def runner(_):
        barrier.wait()
        try:
            return rollover_execute(run=run, chunk_size=7).owners
        finally:
            close_old_connections()
            connection.close()

    with ThreadPoolExecutor(RUNNERS) as pool:
        done_by_each = list(pool.map(runner, range(RUNNERS)))

    owners = len(employees) + len(extra)
    assert sum(done_by_each) == owners  # shared out, none twice
    assert RolloverItem.objects.filter(run=run).count() == owners
    run.refresh_from_db()
    assert run.state == RolloverState.DONE
    assert run.owners_done == owners
    for kind in (EntryKind.CARRYOVER_OUT, EntryKind.CARRYOVER_IN):
        assert LedgerEntry.objects.filter(kind=kind).count() == len(employees)
    assert LedgerEntry.objects.filter(
        kind=EntryKind.ALLOCATION, budget__fiscal_year=2027
    ).count() == (owners)
    for budget in Budget.objects.filter(fiscal_year=2027):
        assert budget.allocated_micros == 100_000 * 10**6 + budget.carried_over_micros


def test_a_budget_locked_by_usage_when_the_pass_reaches_it_is_still_closed():
    # given FY2026 budgets, one of them locked by a usage batch when the runner gets to it
    import threading

    from django.db import transaction

    employees = [EmployeeFactory() for _ in range(6)]
    for employee in employees:
        employee_allocate_from_level(employee=employee, fiscal_year=2026, acting_user=None)
    locked_id = Budget.objects.filter(fiscal_year=2026).order_by("pk")[2].pk
    run = rollover_preview(fiscal_year=2026, acting_user=None)
    run = rollover_confirm(run=run, acting_user=None, enqueue=False)
    locked, release = threading.Event(), threading.Event()

    def usage_batch():
        try:
            with transaction.atomic():
                Budget.objects.select_for_update().get(pk=locked_id)
                locked.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    holder = threading.Thread(target=usage_batch)
    holder.start()
    assert locked.wait(timeout=10)
    threading.Timer(0.5, release.set).start()  # the batch commits while the runner goes on

    # when one runner runs the whole rollover
    result = rollover_execute(run=run, chunk_size=2)
    holder.join()

    # then it waited for the locked budget rather than finishing without it
    assert result.finished
    assert RolloverItem.objects.filter(run=run, source_budget_id=locked_id).exists()
    assert RolloverItem.objects.filter(run=run).count() == len(employees)
    assert Budget.objects.get(pk=locked_id).allocated_micros == 0  # carried and forfeited


def test_holds_expiring_while_the_rollover_runs_are_counted_once_either_way():
    # given 12 engineers, each with a $6 hold open at the close of FY2026
    from budgets.rollover import reservations_release_expired
    from tests.budgets.test_ledger import assert_totals_match_entries
    from tests.budgets.test_rollover_holds import HOLD_OVER, MID, USD, hold, hold_forfeitures

    carry_half()
    employees = [EmployeeFactory() for _ in range(12)]
    for employee in employees:
        employee_allocate_from_level(employee=employee, fiscal_year=2026, acting_user=None)
        hold(employee, 6)
    run = rollover_preview(fiscal_year=2026, acting_user=None)
    run = rollover_confirm(run=run, acting_user=None, enqueue=False)
    barrier = Barrier(2)

    def rollover(_):
        barrier.wait()
        return rollover_execute(run=run, chunk_size=1).finished

    def expiry(_):
        barrier.wait()
        return reservations_release_expired(now=HOLD_OVER, batch=1) == 12

    # when the holds expire one by one while the rollover closes budgets one by one
    def each(task):
        try:
            return task(None)
        finally:
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        assert all(pool.map(each, [rollover, expiry]))

    # then each hold was either unused money at its budget's close (half carried) or forfeited
    # after it, never both and never neither, and every total equals its entries
    later = 0
    for employee in employees:
        old = Budget.objects.get(employee=employee, fiscal_year=2026)
        new = Budget.objects.get(employee=employee, fiscal_year=2027)
        forfeited_later = -sum(hold_forfeitures(old))
        assert forfeited_later in (0, 6 * USD)
        assert new.carried_over_micros == (MID - forfeited_later) // 2
        assert (old.allocated_micros, old.spent_micros, old.reserved_micros) == (0, 0, 0)
        assert_totals_match_entries(old)
        item = RolloverItem.objects.get(run=run, source_budget=old)
        assert item.hold_forfeited_micros == forfeited_later
        later += forfeited_later
    run.refresh_from_db()
    assert run.state == RolloverState.DONE
    assert run.done_unused_micros + later == len(employees) * MID
