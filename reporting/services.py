"""Writes of the reporting app: ask for a report run, build it (snapshot, then PDF), and the
quarter-start schedule. The web page, the Celery task, the beat entry and the
`quarterly_report` command all go through these."""

import logging
import time
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from common import fiscal
from common.db import on_fresh_connection, session_waits_bounded
from common.errors import AllotError
from common.heartbeat import heartbeat
from notifications.kinds import Kind
from notifications.services import notify
from outbox.services import Job, outbox_enqueue
from people.selectors import company_settings
from reporting.models import ReportRun, RunState, RunTrigger
from reporting.rendering import report_pdf
from reporting.selectors import month_report_data, report_data

logger = logging.getLogger(__name__)


def _check_quarter(*, fiscal_year: int, quarter: int) -> None:
    if not 1 <= quarter <= 4:
        raise AllotError("The quarter is 1, 2, 3 or 4.", field="quarter")
    if not 2000 <= fiscal_year <= 2200:
        raise AllotError("Give a fiscal year such as 2026.", field="fiscal_year")
    start_month = company_settings().fiscal_year_start_month
    start = fiscal.fiscal_quarter_period(fiscal_year, quarter, start_month).start
    if start > timezone.localdate():
        raise AllotError(
            f"FY{fiscal_year} Q{quarter} starts on {start:%d %b %Y}; it has no figures yet.",
            field="quarter",
        )


def _enqueue(run: ReportRun) -> None:
    """Build the run in a worker once the transaction that asked for it has committed (the
    outbox: queued with the run, sent by the relay)."""
    with transaction.atomic():
        outbox_enqueue([Job("reporting.report_build", args=[run.pk])])


def report_run_request(
    *,
    fiscal_year: int,
    quarter: int,
    include_appendix: bool = False,
    acting_user: AbstractBaseUser | None,
    trigger: str = RunTrigger.WEB,
    enqueue: bool = True,
) -> ReportRun:
    """Record the ask and queue the build after commit (the page then shows its progress)."""
    _check_quarter(fiscal_year=fiscal_year, quarter=quarter)
    return _run_record(
        enqueue=enqueue,
        fiscal_year=fiscal_year,
        quarter=quarter,
        include_appendix=include_appendix,
        requested_by=acting_user,
        trigger=trigger,
    )


def month_report_run_request(
    *,
    month: date,
    include_appendix: bool = False,
    acting_user: AbstractBaseUser | None,
    trigger: str = RunTrigger.WEB,
    enqueue: bool = True,
) -> ReportRun:
    """Ask for the monthly report of `month` (any day of it): the same builder, look and files
    as the quarter's, for the month within its fiscal year."""
    month = month.replace(day=1)
    if month > timezone.localdate():
        raise AllotError(f"{month:%B %Y} has not started; it has no figures yet.", field="month")
    if not 2000 <= month.year <= 2200:
        raise AllotError("Give a month such as 2026-11.", field="month")
    fiscal_year, quarter = fiscal.fiscal_quarter_of(
        month, company_settings().fiscal_year_start_month
    )
    return _run_record(
        enqueue=enqueue,
        fiscal_year=fiscal_year,
        quarter=quarter,
        month=month,
        include_appendix=include_appendix,
        requested_by=acting_user,
        trigger=trigger,
    )


def _run_record(*, enqueue: bool, **fields) -> ReportRun:
    """The run asked for, and its build queued after commit (unless `enqueue` is off)."""
    with transaction.atomic():
        run = ReportRun.objects.create(**fields)
        if enqueue:
            _enqueue(run)
    return run


def report_run_retry(*, run: ReportRun, enqueue: bool = True) -> ReportRun:
    """Build a failed or interrupted run again (after a crash, a full disk, a killed worker):
    the same run, queued afresh; its figures are computed anew, as a clean run's are."""
    with transaction.atomic():
        retried = ReportRun.objects.filter(
            pk=run.pk, state__in=(RunState.FAILED, RunState.INTERRUPTED)
        ).update(state=RunState.QUEUED, error="", stage="", progress_percent=0, finished_at=None)
        if retried and enqueue:
            _enqueue(run)
    run.refresh_from_db()
    if not retried:
        raise AllotError("Only a failed report can be built again.", code="not_failed")
    return run


def _progress(run: ReportRun, percent: int, stage: str) -> None:
    # A plain UPDATE outside any transaction of the build, so the page sees it at once.
    ReportRun.objects.filter(pk=run.pk).update(
        progress_percent=percent, stage=stage, heartbeat_at=timezone.now()
    )
    if settings.ALLOT_REPORT_STAGE_PAUSE_SECONDS:  # the fault tests' window to kill the worker
        time.sleep(settings.ALLOT_REPORT_STAGE_PAUSE_SECONDS)


def _tell_ready(run: ReportRun) -> None:
    """Who asked for the report hears it is ready, with the link to it."""
    notify(
        [run.requested_by],
        f"The {run.period_label} report is ready.",
        kind=Kind.REPORT,
        subject=f"Allot: the {run.period_label} report is ready",
        link=reverse("reporting:detail", args=[run.pk]),
    )


def report_run_build(*, run: ReportRun) -> ReportRun:
    """Compute the snapshot, render the PDF from it and store both. Running it again on a
    finished run does nothing; a failed run records the error (ask again to retry)."""
    now = timezone.now()
    # The claim, one UPDATE: queued or interrupted, or running with a stale heartbeat (a lost
    # worker the sweep has not seen yet). Running with a fresh one, another worker is on it.
    claimed = ReportRun.objects.filter(
        Q(state__in=[RunState.QUEUED, RunState.INTERRUPTED]) | _lost(now), pk=run.pk
    ).update(state=RunState.RUNNING, started_at=now, heartbeat_at=now)
    run.refresh_from_db()
    if not claimed:
        if run.state == RunState.RUNNING:
            logger.info("report run %s is being built by another worker; not again", run.pk)
        return run
    with (
        session_waits_bounded(
            lock_ms=settings.ALLOT_REPORT_LOCK_TIMEOUT_MS,
            statement_ms=settings.ALLOT_REPORT_STATEMENT_TIMEOUT_MS,
        ),
        # the heartbeat moves during the long stages too (the PDF render is one)
        heartbeat(
            lambda: ReportRun.objects.filter(pk=run.pk, state=RunState.RUNNING).update(
                heartbeat_at=timezone.now()
            )
        ),
    ):
        return _report_build(run)


def _lost(now: datetime) -> Q:
    """Running with no heartbeat for ALLOT_RUN_STALLED_AFTER_SECONDS: its worker is gone."""
    stale = now - timedelta(seconds=settings.ALLOT_RUN_STALLED_AFTER_SECONDS)
    return Q(
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, started_at__lt=stale),
        state=RunState.RUNNING,
    )


def _report_build(run: ReportRun) -> ReportRun:
    timings: dict[str, float] = {}
    try:
        started = time.perf_counter()
        step = lambda percent, stage: _progress(run, percent, stage)  # noqa: E731
        if run.month:
            snapshot = month_report_data(
                month=run.month, include_appendix=run.include_appendix, progress=step
            )
        else:
            snapshot = report_data(
                fiscal_year=run.fiscal_year,
                quarter=run.quarter,
                include_appendix=run.include_appendix,
                progress=step,
            )
        timings["data_seconds"] = round(time.perf_counter() - started, 3)
        _progress(run, 90, "Rendering the PDF")
        started = time.perf_counter()
        pdf = report_pdf(snapshot)
        timings["pdf_seconds"] = round(time.perf_counter() - started, 3)
        run.snapshot = snapshot
        run.timings = timings
        run.pdf.save(
            f"allot-report-{run.file_stem.removeprefix('token-spend-')}-{run.pk}.pdf",
            ContentFile(pdf),
            save=False,
        )
        run.state = RunState.DONE
        run.progress_percent = 100
        run.stage = "Done"
        run.finished_at = timezone.now()
        run.save()
        _tell_ready(run)
    except Exception as exc:
        logger.exception("report run %s failed", run.pk)
        error = f"{type(exc).__name__}: {exc}"
        # On a fresh connection if need be: the failure may be the connection itself.
        on_fresh_connection(
            lambda: ReportRun.objects.filter(pk=run.pk).update(
                state=RunState.FAILED, error=error, stage="Failed", finished_at=timezone.now()
            )
        )
        run.refresh_from_db()
        raise
    logger.info("report run %s built in %s", run.pk, timings)
    return run


def report_runs_resume(*, now: datetime | None = None) -> int:
    """Every minute: a run "running" with no progress for ALLOT_RUN_STALLED_AFTER_SECONDS lost
    its worker. It becomes interrupted and is queued again (up to ALLOT_RUN_MAX_RESUMES times;
    then it stays interrupted, and "Build again" on the page retries it). Returns how many."""
    now = now or timezone.now()
    interrupted = 0
    with transaction.atomic():
        runs = ReportRun.objects.filter(_lost(now))
        for run in runs.select_for_update(skip_locked=True).order_by("pk"):
            run.state = RunState.INTERRUPTED
            run.error = f"The build stopped at {run.progress_percent}% ({run.stage or 'start'})."
            run.resumes += 1
            run.save(update_fields=["state", "error", "resumes"])
            if run.resumes <= settings.ALLOT_RUN_MAX_RESUMES:
                _enqueue(run)
            interrupted += 1
            logger.warning("report run %s interrupted at %s; queued again", run.pk, run.stage)
    return interrupted


def quarter_just_ended(today: date) -> tuple[int, int] | None:
    """On the first day of a fiscal quarter: the (fiscal year, quarter) that just ended."""
    start_month = company_settings().fiscal_year_start_month
    year, quarter = fiscal.fiscal_quarter_of(today, start_month)
    if fiscal.fiscal_quarter_period(year, quarter, start_month).start != today:
        return None
    return (year, quarter - 1) if quarter > 1 else (year - 1, 4)


def report_quarter_start(*, today: date | None = None) -> ReportRun | None:
    """The scheduled report: on the first day of a fiscal quarter, the quarter that just ended,
    once (a second beat on the same day finds the run and does nothing)."""
    today = today or timezone.localdate()
    ended = quarter_just_ended(today)
    if ended is None:
        return None
    fiscal_year, quarter = ended
    if ReportRun.objects.filter(
        fiscal_year=fiscal_year, quarter=quarter, trigger=RunTrigger.SCHEDULE
    ).exists():
        return None
    try:
        return report_run_request(
            fiscal_year=fiscal_year,
            quarter=quarter,
            acting_user=None,
            trigger=RunTrigger.SCHEDULE,
        )
    except IntegrityError:  # another beat made it a moment ago
        return None
