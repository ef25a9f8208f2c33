"""Late usage on a closed year racing other writers on PostgreSQL, with real threads: the
forfeiture reversed and the carryover taken back add up whatever the order, and never twice."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
import time_machine
from django.db import close_old_connections, connection

from budgets.models import EntryKind
from budgets.usage import usage_ingest
from tests.budgets.test_late_usage import (
    AFTER_CLOSE,
    MID,
    USD,
    budgets,
    closed_with_ten_dollars_unused,
    event,
    late,
)
from tests.budgets.test_ledger import assert_totals_match_entries
from tests.factories import carry_half

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks and concurrent writers need PostgreSQL; SQLite serialises writers",
    ),
]


def test_late_usage_racing_new_year_usage_and_a_retry_of_itself():
    carry_half()
    with time_machine.travel(AFTER_CLOSE + timedelta(hours=1)):
        alice, _ = closed_with_ten_dollars_unused()
    batches = [
        [event(alice, "late-a", "4")],
        [event(alice, "late-a", "4")],  # the gateway's retry of the same batch, at once
        [event(alice, "late-b", "4"), event(alice, "jan-1", "1", on=AFTER_CLOSE)],
        [event(alice, "jan-2", "1", on=AFTER_CLOSE), event(alice, "jan-3", "1", on=AFTER_CLOSE)],
    ]
    barrier = Barrier(len(batches))

    def send(batch):
        with time_machine.travel(AFTER_CLOSE + timedelta(hours=1), tick=True):
            barrier.wait()
            try:
                result = usage_ingest(source="gateway", events=batch)
                return result.accepted, result.duplicates, result.rejected
            finally:
                close_old_connections()
                connection.close()

    with ThreadPoolExecutor(len(batches)) as pool:
        results = list(pool.map(send, batches))

    assert all(rejected == [] for _, _, rejected in results)
    assert sum(accepted for accepted, _, _ in results) == 5  # late-a once
    assert sum(duplicates for _, duplicates, _ in results) == 1
    old, new = budgets(alice)
    # $8 of late usage: the $5 forfeited, then $3 of the $5 carried; nothing left overspent
    assert sum(late(old, EntryKind.FORFEITURE)) == 5 * USD
    assert sum(late(old, EntryKind.CARRYOVER_OUT)) == 3 * USD
    assert sum(late(new, EntryKind.CARRYOVER_IN)) == -3 * USD
    assert old.remaining_micros == 0
    assert old.spent_micros == MID - 10 * USD + 8 * USD
    assert new.carried_over_micros == 2 * USD
    assert (new.allocated_micros, new.spent_micros) == (MID + 2 * USD, 3 * USD)
    for budget in (old, new):
        assert_totals_match_entries(budget)
