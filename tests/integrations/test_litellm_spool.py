"""The LiteLLM callback's spool (integrations/litellm/allot_spool.py, standard library only, so
it is tested here in Allot's environment, on both passes): kept before it is sent, claimed by
one sender at a time, and still there after the process is gone."""

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "integrations" / "litellm"))

from allot_spool import Spool  # noqa: E402 - from the integration's own folder


def event(n: int) -> dict:
    return {"id": f"litellm-{n}", "employee": "eng@example.com", "cost_usd": "0.00033"}


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "spool.sqlite3")


def test_a_row_sent_now_is_not_claimed_by_the_retry_loop_until_its_lease_ends(path):
    spool = Spool(path)
    row = spool.add(event(1), lease=0.3)

    assert spool.claim(10, lease=5) == []  # in flight with the sender that added it
    time.sleep(0.35)
    assert spool.claim(10, lease=5) == [(row, event(1))]  # its sender died: the loop takes it


def test_two_spools_on_one_file_never_claim_the_same_row(path):
    first, second = Spool(path), Spool(path)  # as two proxy processes would
    for n in range(10):
        first.add(event(n), lease=0)

    a, b = first.claim(6, lease=30), second.claim(6, lease=30)

    assert len(a) == 6 and len(b) == 4
    assert not {row for row, _ in a} & {row for row, _ in b}


def test_undelivered_rows_come_back_at_once_delivered_ones_go_rejected_ones_stay(path):
    spool = Spool(path)
    rows = [spool.add(event(n), lease=0) for n in range(3)]
    claimed = spool.claim(10, lease=30)
    assert [row for row, _ in claimed] == rows

    spool.unclaim(rows)  # Allot did not answer
    again = spool.claim(10, lease=30)
    spool.done(delivered=[rows[0]], rejected={rows[1]: "{'employee': ['No employee']}"})

    assert [row for row, _ in again] == rows
    assert spool.counts() == {"pending": 1, "rejected": 1}
    spool.unclaim([rows[2]])
    assert spool.claim(10, lease=30) == [(rows[2], event(2))]


def test_the_same_event_id_is_kept_once_and_survives_a_new_process(path):
    spool = Spool(path)
    assert spool.add(event(1), lease=0) is not None
    assert spool.add({**event(1), "cost_usd": "9"}, lease=0) is None  # the first contents stay
    del spool

    reopened = Spool(path)
    assert reopened.claim(10, lease=30)[0][1]["cost_usd"] == "0.00033"
