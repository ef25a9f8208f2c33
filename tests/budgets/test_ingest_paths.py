"""PostgreSQL writes a batch's rows before it takes the budget locks, then decides the drawdown
again under the locks. These tests hold that path to the rows the lock-first path writes."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from budgets.models import Budget, DailySpend, Enforcement, EntryKind, LedgerEntry, UsageEvent
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_ingest
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, ProjectFactory, TeamFactory, price

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="only PostgreSQL writes before locking; SQLite always takes the lock-first path",
)


NOW = timezone.now()


def _event(n, employee, **extra):
    return {
        "id": f"p-{n}",
        "employee": employee,
        "model": "sonnet",
        "input_tokens": 1_000 * (n + 1),
        "output_tokens": 100,
        "occurred_at": (NOW - timedelta(minutes=200 - n)).isoformat(),
        **extra,
    }


def _snapshot(result):
    """Everything the batch wrote, with budgets named by owner (a budget created in a rolled
    back savepoint leaves its id behind in the sequence)."""
    owner = {
        b.pk: (b.owner_kind, b.employee_id or b.team_id or b.project_id)
        for b in Budget.objects.all()
    }
    events = sorted(
        UsageEvent.objects.values_list(
            "event_id",
            "budget_id",
            "cost_micros",
            "price_id",
            "project_id",
            "ledger_entry__budget_id",
            "ledger_entry__amount_micros",
            "ledger_entry__memo",
        )
    )
    events = [(e[0], owner[e[1]], *e[2:5], owner[e[5]], *e[6:]) for e in events]
    return {
        "result": (result.accepted, result.duplicates, result.rejected),
        "events": events,
        "entries": sorted(
            (owner[b], kind, amount, memo)
            for b, kind, amount, memo in LedgerEntry.objects.values_list(
                "budget_id", "kind", "amount_micros", "memo"
            )
        ),
        "budgets": sorted(
            (owner[b], *totals)
            for b, *totals in Budget.objects.values_list(
                "pk", "allocated_micros", "spent_micros", "reserved_micros"
            )
        ),
        "daily": sorted(
            (owner[b], *rest)
            for b, *rest in DailySpend.objects.values_list(
                "budget_id", "day", "spent_micros", "events"
            )
        ),
    }


@needs_postgres
@pytest.mark.django_db
def test_writing_before_locking_stores_what_locking_first_stores():
    """One mixed batch (project, personal with a hard limit, pool overflow, prices and given
    costs, duplicates, a conflicting id, an unknown employee) through both paths."""
    year = current_fiscal_year()
    team = TeamFactory(has_pool=True, pool_overflow=True)
    alice = EmployeeFactory(user__email="alice@example.com", team=team)
    EmployeeFactory(user__email="bob@example.com", team=team)
    project = ProjectFactory(code="apollo")
    project.members.add(alice)
    price("sonnet", input_usd="3", output_usd="15")
    for owner, dollars in (({"employee": alice}, 1), ({"project": project}, 2)):
        budget, _ = budget_create(fiscal_year=year, enforcement=Enforcement.HARD, **owner)
        budget_allocate(budget=budget, amount_micros=dollars * 10**6, acting_user=None)
    pool, _ = budget_create(fiscal_year=year, team=team)
    budget_allocate(budget=pool, amount_micros=50 * 10**6, acting_user=None)
    assert usage_ingest(events=[_event(0, "alice@example.com")], source="gw").accepted == 1

    batch = [_event(n, "alice@example.com", project="apollo") for n in range(1, 8)]
    batch += [_event(n, "alice@example.com", cost_usd="0.3") for n in range(8, 14)]
    batch += [_event(n, "bob@example.com") for n in range(14, 18)]  # bob's budget is created
    batch += [_event(0, "alice@example.com")]  # stored before: a duplicate
    batch += [_event(1, "alice@example.com", project="apollo")]  # earlier in the batch
    batch += [{**_event(2, "alice@example.com"), "input_tokens": 5}]  # same id, other contents
    batch += [_event(30, "nobody@example.com")]
    batch.reverse()  # drawdown goes by occurred_at, not by position

    snapshots = []
    for write_first in (True, False):
        savepoint = transaction.savepoint()
        result = usage_ingest(events=batch, source="gw", write_first=write_first)
        snapshots.append(_snapshot(result))
        transaction.savepoint_rollback(savepoint)

    first, locked = snapshots
    assert first == locked
    # The event's budget has no foreign key of its own: it is its ledger entry's budget.
    assert all(payer == entry_budget for _, payer, _, _, _, entry_budget, *_ in first["events"])
    assert first["result"][:2] == (17, 2)
    kinds = {payer[0] for _, payer, *_ in first["events"]}
    assert kinds == {"project", "employee", "team"}  # every branch of the drawdown was taken


@needs_postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_payer_that_fills_up_while_the_rows_are_written_is_decided_again():
    """Batch B guesses its payer (the personal budget has room) and writes its rows, then waits
    for the lock a concurrent batch A holds; A fills the personal budget and commits. Under the
    lock B's event no longer fits: its rows must end up on the pool, and nothing else kept."""
    year = current_fiscal_year()
    team = TeamFactory(has_pool=True, pool_overflow=True)
    employee = EmployeeFactory(user__email="eng@example.com", team=team)
    personal, _ = budget_create(fiscal_year=year, employee=employee, enforcement=Enforcement.HARD)
    budget_allocate(budget=personal, amount_micros=10 * 10**6, acting_user=None)
    pool, _ = budget_create(fiscal_year=year, team=team)  # after personal: locked second
    budget_allocate(budget=pool, amount_micros=100 * 10**6, acting_user=None)
    now = timezone.now()

    def usage_event(event_id, dollars):
        return {
            "id": event_id,
            "employee": "eng@example.com",
            "model": "own",
            "input_tokens": 1,
            "output_tokens": 1,
            "cost_usd": dollars,
            "occurred_at": (now - timedelta(minutes=1)).isoformat(),
        }

    locked, waited, outcome = threading.Event(), threading.Event(), {}

    def batch_a():
        try:
            with transaction.atomic():
                Budget.objects.select_for_update().get(pk=personal.pk)
                locked.set()
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    with connection.cursor() as cursor:
                        # Activity is a snapshot per transaction unless cleared.
                        cursor.execute("SELECT pg_stat_clear_snapshot()")
                        cursor.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND wait_event_type = 'Lock' "
                            "AND pid <> pg_backend_pid()"
                        )
                        if cursor.fetchone()[0]:
                            waited.set()
                            break
                    time.sleep(0.02)
                outcome["a"] = usage_ingest(events=[usage_event("a", "8")], source="gw")
        finally:
            close_old_connections()
            connection.close()

    def batch_b():
        try:
            locked.wait(10)
            outcome["b"] = usage_ingest(events=[usage_event("b", "5")], source="gw")
        except Exception as error:  # reported by the assertions below
            outcome["b error"] = error
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=batch_a), threading.Thread(target=batch_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert "b error" not in outcome, outcome
    assert waited.is_set(), "batch B never waited for the lock: the scenario did not happen"
    assert outcome["a"].accepted == 1 and outcome["b"].accepted == 1
    payers = dict(UsageEvent.objects.values_list("event_id", "budget_id"))
    assert payers == {"a": personal.pk, "b": pool.pk}
    personal.refresh_from_db()
    pool.refresh_from_db()
    assert (personal.spent_micros, pool.spent_micros) == (8 * 10**6, 5 * 10**6)
    usage_entries = LedgerEntry.objects.filter(kind=EntryKind.USAGE)
    assert sorted(usage_entries.values_list("budget_id", "amount_micros")) == sorted(
        [(personal.pk, 8 * 10**6), (pool.pk, 5 * 10**6)]
    )
    assert sorted(DailySpend.objects.values_list("budget_id", "spent_micros")) == sorted(
        [(personal.pk, 8 * 10**6), (pool.pk, 5 * 10**6)]
    )


@pytest.mark.django_db
def test_every_event_names_the_budget_of_its_ledger_entry():
    """The database checks an event's budget only through its ledger entry's foreign key
    (UsageEvent.budget has no constraint of its own), so the two must always be the same."""
    year = current_fiscal_year()
    team = TeamFactory(has_pool=True, pool_overflow=True)
    alice = EmployeeFactory(user__email="alice@example.com", team=team)
    project = ProjectFactory(code="apollo")
    project.members.add(alice)
    price("sonnet", input_usd="3", output_usd="15")
    personal, _ = budget_create(fiscal_year=year, employee=alice, enforcement=Enforcement.HARD)
    budget_allocate(budget=personal, amount_micros=10_000, acting_user=None)  # one event
    pool, _ = budget_create(fiscal_year=year, team=team)
    budget_allocate(budget=pool, amount_micros=50 * 10**6, acting_user=None)
    batch = [_event(n, "alice@example.com") for n in range(6)]
    batch += [_event(n, "alice@example.com", project="apollo") for n in range(6, 9)]
    assert usage_ingest(events=batch, source="gw").accepted == 9

    pairs = list(UsageEvent.objects.values_list("budget_id", "ledger_entry__budget_id"))
    assert len(pairs) == 9 and all(paid == entry for paid, entry in pairs)
    assert len({paid for paid, _ in pairs}) >= 2  # the personal budget filled, the pool paid
