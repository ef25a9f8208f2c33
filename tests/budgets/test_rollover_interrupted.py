"""A rollover whose worker was lost mid-run is visibly interrupted, queued again by the sweep
within minutes, and its resumed ledger is the ledger of one clean run."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from budgets.models import RolloverRun, RolloverState
from budgets.rollover import rollovers_resume
from budgets.tasks import rollovers_resume_task
from outbox.models import OutboxMessage
from outbox.services import outbox_relay
from tests.budgets.test_rollover import commit, company, ledger_signature, org  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_rollover_whose_worker_died_is_interrupted_resumed_and_matches_a_clean_run(
    org,  # noqa: F811
    settings,
):
    settings.ALLOT_OUTBOX_RELAY_ON_COMMIT = False
    with transaction.atomic():
        point = transaction.savepoint()
        commit(chunk_size=2)
        clean = ledger_signature()
        transaction.savepoint_rollback(point)
    partial = commit(chunk_size=2, max_chunks=2)  # then the worker is killed
    RolloverRun.objects.filter(pk=partial.run.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=6)
    )

    assert rollovers_resume_task.delay().get() == 1

    run = RolloverRun.objects.get(pk=partial.run.pk)
    assert (run.state, run.resumes) == (RolloverState.INTERRUPTED, 1)
    assert "worker lost after 4 owners" in run.errors[-1]["error"]
    queued = OutboxMessage.objects.get(task="budgets.rollover_commit", sent_at__isnull=True)
    assert queued.args == [run.pk]

    outbox_relay()  # the relay delivers it; a worker (eager here) resumes the run

    run.refresh_from_db()
    assert run.state == RolloverState.DONE
    assert ledger_signature() == clean
    assert rollovers_resume() == 0


def test_a_rollover_making_progress_is_not_interrupted(org, settings):  # noqa: F811
    settings.ALLOT_OUTBOX_RELAY_ON_COMMIT = False
    commit(chunk_size=2, max_chunks=1)

    assert rollovers_resume() == 0
    assert RolloverRun.objects.get().state == RolloverState.RUNNING
