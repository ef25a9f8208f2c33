"""Faults injected for real: the database itself refuses a write in the middle of a usage batch
(a trigger raising on one table), and nothing of the batch may remain."""

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone

from budgets.models import Budget, DailySpend, LedgerEntry, UsageEvent
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_ingest
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory

pytestmark = pytest.mark.django_db


def add_failing_trigger(table: str) -> None:
    """Make the database refuse any insert or update on `table` from now on (this test only)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE OR REPLACE FUNCTION allot_injected_fault() RETURNS trigger AS $$ "
                "BEGIN RAISE EXCEPTION 'injected fault on %', TG_TABLE_NAME; END $$ "
                "LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER allot_injected_fault BEFORE INSERT OR UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION allot_injected_fault()"
            )
        else:
            for event in ("INSERT", "UPDATE"):
                cursor.execute(
                    f"CREATE TRIGGER allot_injected_fault_{event.lower()} BEFORE {event} ON "
                    f"{table} BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
                )


def events(count: int) -> list[dict]:
    now = timezone.now()
    return [
        {
            "id": f"fault-{n}",
            "employee": "eng@example.com",
            "model": "m",
            "input_tokens": 10,
            "output_tokens": 10,
            "cost_usd": "0.50",
            "occurred_at": (now - timezone.timedelta(minutes=n)).isoformat(),
        }
        for n in range(count)
    ]


def snapshot():
    return (
        UsageEvent.objects.count(),
        LedgerEntry.objects.count(),
        list(DailySpend.objects.values_list("budget_id", "day", "spent_micros")),
        list(Budget.objects.values_list("pk", "allocated_micros", "spent_micros")),
    )


@pytest.mark.parametrize(
    "table",
    [
        "budgets_usageevent",  # fails while the events are written
        "budgets_dailyspend",  # fails on the last write, after events, entries and totals
    ],
)
def test_a_database_error_mid_batch_leaves_nothing_of_the_batch(table):
    engineer = EmployeeFactory(user__email="eng@example.com")
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=engineer)
    budget_allocate(budget=budget, amount_micros=100_000_000, acting_user=None)
    usage_ingest(events=events(3)[:1], source="before")  # something already there
    before = snapshot()
    add_failing_trigger(table)

    with pytest.raises(DatabaseError, match="injected fault"):
        usage_ingest(events=events(50), source="faulty")

    assert snapshot() == before
