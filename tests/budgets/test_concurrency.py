"""Money moves under real concurrency: threads, each with its own PostgreSQL connection."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import close_old_connections, connection

from budgets.models import Budget, EntryKind, LedgerEntry
from budgets.services import budget_adjust, budget_allocate, budget_create, budget_transfer
from common.errors import AllotError
from tests.factories import EmployeeFactory

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks and concurrent writers need PostgreSQL; SQLite serialises writers",
    ),
]
THREADS = 12


def run_together(work, count=THREADS):
    barrier = Barrier(count)

    def one(index):
        barrier.wait()
        try:
            return work(index)
        except AllotError:
            return None
        finally:
            close_old_connections()
            connection.close()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def test_concurrent_debits_never_take_an_allocation_below_zero():
    budget, _ = budget_create(fiscal_year=2026, employee=EmployeeFactory())
    budget_allocate(budget=budget, amount_micros=500, acting_user=None)

    results = run_together(
        lambda i: budget_adjust(budget=budget, amount_micros=-100, acting_user=None, memo=f"{i}")
    )

    assert sum(r is not None for r in results) == 5  # exactly as many as fit, not one more
    budget.refresh_from_db()
    assert budget.allocated_micros == 0
    assert LedgerEntry.objects.filter(budget=budget, kind=EntryKind.ADJUSTMENT).count() == 5


def test_concurrent_transfers_out_of_one_pool_never_overdraw_it():
    employees = [EmployeeFactory() for _ in range(THREADS)]
    pool, _ = budget_create(fiscal_year=2026, team=employees[0].team)
    budget_allocate(budget=pool, amount_micros=1_000, acting_user=None)
    personals = [budget_create(fiscal_year=2026, employee=e)[0] for e in employees]

    results = run_together(
        lambda i: budget_transfer(
            source=pool, destination=personals[i], amount_micros=300, acting_user=None
        )
    )

    assert sum(r is not None for r in results) == 3
    pool.refresh_from_db()
    assert pool.allocated_micros == 100
    total = sum(Budget.objects.get(pk=p.pk).allocated_micros for p in personals)
    assert total + pool.allocated_micros == 1_000  # nothing created or lost


def test_the_same_allocation_sent_at_once_from_many_threads_posts_once():
    budget, _ = budget_create(fiscal_year=2026, employee=EmployeeFactory())

    results = run_together(
        lambda i: budget_allocate(
            budget=budget, amount_micros=42, acting_user=None, idempotency_key="double-click"
        )
    )

    assert len({entry.pk for entry in results}) == 1
    budget.refresh_from_db()
    assert budget.allocated_micros == 42


def test_batches_sharing_ids_sent_at_once_store_each_event_once():
    # given 300 events, and six gateways' retries each sending all of them, in its own order
    import random

    from django.utils import timezone

    from budgets.models import UsageEvent
    from budgets.usage import usage_ingest
    from people.selectors import current_fiscal_year

    engineer = EmployeeFactory(user__email="eng@example.com")
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=engineer)
    budget_allocate(budget=budget, amount_micros=10**12, acting_user=None)
    now = timezone.now()
    events = [
        {
            "id": f"e{n}",
            "employee": "eng@example.com",
            "model": "m",
            "input_tokens": 1,
            "output_tokens": 1,
            "cost_usd": f"0.{n:04d}",
            "occurred_at": now.isoformat(),
        }
        for n in range(300)
    ]

    def send(index):
        batch = events[:]
        random.Random(index).shuffle(batch)
        return usage_ingest(source="gateway", events=batch)

    # when they all arrive together
    results = run_together(send, count=6)

    # then no batch failed, each event was accepted once and a duplicate everywhere else
    assert all(result is not None and not result.rejected for result in results)
    assert sum(result.accepted for result in results) == 300
    assert all(result.accepted + result.duplicates == 300 for result in results)
    assert UsageEvent.objects.count() == 300
    budget.refresh_from_db()
    assert budget.spent_micros == sum(n * 100 for n in range(300))
    assert budget.spent_micros == sum(
        LedgerEntry.objects.filter(budget=budget, kind=EntryKind.USAGE).values_list(
            "amount_micros", flat=True
        )
    )
