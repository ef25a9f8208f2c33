"""A report build whose worker was lost is visibly interrupted and built again within minutes;
a build whose failure is the database connection still records it (on a fresh one)."""

import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.urls import reverse
from django.utils import timezone

from outbox.models import OutboxMessage
from outbox.services import outbox_relay
from reporting import services as reporting_services
from reporting.models import ReportRun, RunState
from reporting.services import report_run_build, report_run_request, report_runs_resume
from reporting.tasks import runs_resume
from tests.factories import finance_user

pytestmark = pytest.mark.django_db


def killed_mid_build(run: ReportRun, minutes_ago: int) -> None:
    """The state a worker killed while rendering leaves: running, last progress long ago."""
    then = timezone.now() - timedelta(minutes=minutes_ago)
    ReportRun.objects.filter(pk=run.pk).update(
        state=RunState.RUNNING, progress_percent=90, stage="Rendering the PDF", heartbeat_at=then
    )


def test_a_build_whose_worker_died_is_interrupted_then_built_again(company, settings, client):
    settings.ALLOT_OUTBOX_RELAY_ON_COMMIT = False  # the beat relay, as in production
    run = report_run_request(fiscal_year=2026, quarter=1, acting_user=None)
    OutboxMessage.objects.update(sent_at=timezone.now())  # its first delivery died with the worker
    killed_mid_build(run, minutes_ago=6)
    fresh = report_run_request(fiscal_year=2026, quarter=2, acting_user=None, enqueue=False)
    killed_mid_build(fresh, minutes_ago=1)  # still within the bound: left alone

    assert runs_resume.delay().get() == 1

    run.refresh_from_db()
    assert (run.state, run.resumes) == (RunState.INTERRUPTED, 1)
    assert "90%" in run.error
    client.force_login(finance_user())
    assert "Interrupted" in client.get(reverse("reporting:list")).content.decode()
    assert ReportRun.objects.get(pk=fresh.pk).state == RunState.RUNNING

    # when the relay delivers the queued build (eager here: a worker runs it)
    assert outbox_relay().sent == 1

    run.refresh_from_db()
    assert (run.state, run.progress_percent) == (RunState.DONE, 100)
    assert run.pdf
    assert report_runs_resume() == 0  # done: nothing left to sweep


def test_a_run_lost_too_often_stays_interrupted_for_a_person_to_retry(company, settings):
    settings.ALLOT_OUTBOX_RELAY_ON_COMMIT = False
    settings.ALLOT_RUN_MAX_RESUMES = 0
    run = report_run_request(fiscal_year=2026, quarter=1, acting_user=None, enqueue=False)
    killed_mid_build(run, minutes_ago=10)

    assert report_runs_resume() == 1

    assert ReportRun.objects.get(pk=run.pk).state == RunState.INTERRUPTED
    assert not OutboxMessage.objects.filter(task="reporting.report_build").exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="cuts the build's own PostgreSQL session"
)
def test_a_build_whose_database_connection_is_cut_is_recorded_failed(
    company, monkeypatch, settings
):
    from tests.reliability.conftest import open_other_session  # noqa: PLC0415 - PostgreSQL only

    settings.ALLOT_OUTBOX_RELAY_ON_COMMIT = False
    run = report_run_request(fiscal_year=2026, quarter=1, acting_user=None, enqueue=False)
    other = open_other_session()
    pid = connection.connection.info.backend_pid

    def render_then_lose_the_connection(snapshot):
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        return b"%PDF-1.4"

    monkeypatch.setattr(reporting_services, "report_pdf", render_then_lose_the_connection)
    with pytest.raises(Exception):  # noqa: B017, PT011 - the build re-raises what failed
        report_run_build(run=run)
    other.close()

    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert run.error


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's lock_timeout")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_build_waits_at_most_the_reports_lock_bound_then_is_recorded_failed(company, settings):
    from tests.reliability.conftest import open_other_session  # noqa: PLC0415 - PostgreSQL only

    settings.ALLOT_OUTBOX_RELAY_ON_COMMIT = False
    settings.ALLOT_REPORT_LOCK_TIMEOUT_MS = 300
    run = report_run_request(fiscal_year=2026, quarter=1, acting_user=None, enqueue=False)
    # given another transaction holding the ledger whole
    other = open_other_session()
    other.execute("LOCK TABLE budgets_ledgerentry IN ACCESS EXCLUSIVE MODE")

    started = time.monotonic()
    with pytest.raises(OperationalError):  # the task fails loudly
        report_run_build(run=run)
    waited = time.monotonic() - started
    other.rollback()
    other.close()

    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert "lock timeout" in run.error
    assert waited < 5
    with connection.cursor() as cursor:  # the worker's session has its own bounds back
        cursor.execute("SELECT current_setting('lock_timeout')")
        assert cursor.fetchone()[0] == "0"
