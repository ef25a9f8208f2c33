"""A close and a writer at the same moment (PostgreSQL, each thread its own connection): the
writer that read the closed months before the close finishes first, so the closed month's
ledger is final once the close commits."""

import threading
import time

import pytest
import time_machine
from django.db import connection, transaction

from budgets.closing import month_close
from budgets.ledger import EntryRow, closed_months, entries_copy
from budgets.models import EntryKind, LedgerEntry, MonthClose
from tests.budgets.test_ledger_periods import NOVEMBER, at
from tests.factories import BudgetFactory

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the advisory lock is PostgreSQL's"
    ),
]


def test_a_close_waits_for_the_writer_that_read_the_months_before_it():
    budget = BudgetFactory()
    writer_has_read, closed_at = threading.Event(), {}

    def writer():
        try:
            with transaction.atomic():
                assert NOVEMBER not in closed_months()  # holds the shared lock from here
                writer_has_read.set()
                time.sleep(0.5)  # the close is waiting meanwhile
                entries_copy(
                    [EntryRow(budget.pk, EntryKind.ADJUSTMENT, 3, "in flight", at(2026, 11, 30, 9))]
                )
                closed_at["writer_done"] = time.monotonic()
        finally:
            connection.close()

    def closer():
        try:
            writer_has_read.wait(5)
            with time_machine.travel(at(2026, 12, 3, 9)):
                month_close(month=NOVEMBER, acting_user=None)
            closed_at["closed"] = time.monotonic()
        finally:
            connection.close()

    threads = [threading.Thread(target=writer), threading.Thread(target=closer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # the close committed after the writer, so the entry it wrote for November is November's
    assert closed_at["closed"] > closed_at["writer_done"]
    assert MonthClose.objects.filter(month=NOVEMBER).exists()
    assert LedgerEntry.objects.get(memo="in flight").period == NOVEMBER
