"""A report run is built once: a second delivery of its task while a live worker builds it
does nothing, a run whose worker is lost is claimed, and the heartbeat keeps moving through a
stage longer than ALLOT_RUN_STALLED_AFTER_SECONDS (so the sweep never takes a live build)."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from notifications.kinds import Kind
from notifications.models import Notification
from reporting import services as reporting_services
from reporting.models import ReportRun, RunState
from reporting.services import report_run_build, report_run_request, report_runs_resume
from tests.factories import finance_user

FAKE_PDF = b"%PDF-1.4 rendered by the test"


def heartbeat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "allot-heartbeat"]


def wait_for(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_second_build_while_a_live_worker_builds_the_run_does_nothing(
    company, monkeypatch, settings, tmp_path
):
    settings.ALLOT_OUTBOX_RELAY_ON_COMMIT = False
    asker = finance_user()
    run = report_run_request(fiscal_year=2026, quarter=1, acting_user=asker, enqueue=False)
    rendering, finish = threading.Event(), threading.Event()

    def render_until_told(snapshot):
        rendering.set()
        assert finish.wait(20)
        return FAKE_PDF

    monkeypatch.setattr(reporting_services, "report_pdf", render_until_told)

    def first_worker():
        try:
            report_run_build(run=ReportRun.objects.get(pk=run.pk))
        finally:
            connections.close_all()

    first = threading.Thread(target=first_worker)
    first.start()
    try:
        assert rendering.wait(20)
        # a late copy of the task (a second relay, a redelivery) while the first is rendering
        second = report_run_build(run=ReportRun.objects.get(pk=run.pk))
        assert (second.state, second.stage) == (RunState.RUNNING, "Rendering the PDF")
    finally:
        finish.set()
        first.join(30)

    run.refresh_from_db()
    assert run.state == RunState.DONE
    assert [f.name for f in (tmp_path / "media").rglob("*.pdf")] == [run.pdf.name.split("/")[-1]]
    assert Notification.objects.filter(user=asker, kind=Kind.REPORT).count() == 1


@pytest.mark.django_db
def test_a_run_running_with_a_stale_heartbeat_is_claimed_and_built(company, monkeypatch):
    monkeypatch.setattr(reporting_services, "report_pdf", lambda snapshot: FAKE_PDF)
    run = report_run_request(fiscal_year=2026, quarter=1, acting_user=None, enqueue=False)
    # its worker died 6 minutes ago and the sweep has not run yet
    ReportRun.objects.filter(pk=run.pk).update(
        state=RunState.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=6)
    )

    run = report_run_build(run=run)

    assert (run.state, run.progress_percent) == (RunState.DONE, 100)
    assert run.pdf.read() == FAKE_PDF


@pytest.mark.django_db
def test_a_run_running_with_a_fresh_heartbeat_is_left_to_its_worker(company):
    run = report_run_request(fiscal_year=2026, quarter=1, acting_user=None, enqueue=False)
    beat = timezone.now() - timedelta(minutes=1)
    ReportRun.objects.filter(pk=run.pk).update(
        state=RunState.RUNNING, progress_percent=50, heartbeat_at=beat
    )

    run = report_run_build(run=run)

    assert (run.state, run.progress_percent, run.heartbeat_at) == (RunState.RUNNING, 50, beat)
    assert not run.pdf


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_heartbeat_moves_through_a_render_longer_than_the_stalled_bound_then_stops(
    company, monkeypatch, settings
):
    settings.ALLOT_OUTBOX_RELAY_ON_COMMIT = False
    settings.ALLOT_RUN_STALLED_AFTER_SECONDS = 1  # a beat every 0.2 s
    run = report_run_request(fiscal_year=2026, quarter=1, acting_user=None, enqueue=False)
    seen = {}

    def slow_render(snapshot):
        seen["before"] = ReportRun.objects.get(pk=run.pk).heartbeat_at
        swept = 0
        for _ in range(6):  # 3 s of rendering, three times the bound
            time.sleep(0.5)
            swept += report_runs_resume()  # the minute sweep, as if it ran now
        seen["after"] = ReportRun.objects.get(pk=run.pk).heartbeat_at
        seen["swept"] = swept
        return FAKE_PDF

    monkeypatch.setattr(reporting_services, "report_pdf", slow_render)

    run = report_run_build(run=run)

    assert run.state == RunState.DONE
    assert seen["swept"] == 0  # a live build is never taken for a lost one
    assert seen["after"] - seen["before"] >= timedelta(seconds=2)
    assert heartbeat_threads() == []  # stopped with the build
    last = ReportRun.objects.get(pk=run.pk).heartbeat_at
    time.sleep(0.5)
    assert ReportRun.objects.get(pk=run.pk).heartbeat_at == last
