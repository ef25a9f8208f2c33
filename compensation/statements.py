"""Every employee's total rewards statement in the background: ask for a run (the page or the
command), a worker makes one PDF per employee with progress, then one zip; a run whose worker was
lost is resumed by the sweep and skips the statements already made."""

import logging
import time
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from budgets.rollover.preview import rollover_context
from common.db import on_fresh_connection
from common.errors import AllotError
from common.heartbeat import heartbeat
from common.pdf import font_cache
from compensation.models import StatementRun, StatementRunState
from compensation.models.pay import private_statement_storage
from compensation.rewards import rewards_statement, statement_pdf
from outbox.services import Job, outbox_enqueue
from people.models import Employee
from people.selectors import fiscal_year_period

logger = logging.getLogger(__name__)

BATCH = 200  # employees read at a time: 10,000 never sit in memory at once
PROGRESS_EVERY_SECONDS = 1.0
OPEN_STATES = (StatementRunState.QUEUED, StatementRunState.RUNNING, StatementRunState.INTERRUPTED)


def statement_employees(fiscal_year: int):
    """Who gets a statement for the year: everyone hired by its last day who is active or had
    a personal budget that year (a leaver still gets the year they worked)."""
    period = fiscal_year_period(fiscal_year)
    return (
        Employee.objects.filter(hire_date__lte=period.end)
        .filter(Q(is_active=True) | Q(budgets__fiscal_year=fiscal_year))
        .distinct()
    )


def _enqueue(run: StatementRun) -> None:
    with transaction.atomic():
        outbox_enqueue([Job("compensation.statements_make", args=[run.pk])])


def statement_run_request(
    *, fiscal_year: int, acting_user: AbstractBaseUser | None, enqueue: bool = True
) -> StatementRun:
    """Record the ask and queue the batch (the page shows its progress). One open run a year:
    asking again while one is queued or running returns that one."""
    if not 2000 <= fiscal_year <= 2200:
        raise AllotError("Give a fiscal year such as 2026.", field="fiscal_year")
    if fiscal_year_period(fiscal_year).start > timezone.localdate():
        raise AllotError(f"FY{fiscal_year} has not started yet.", field="fiscal_year")
    with transaction.atomic():
        open_run = (
            StatementRun.objects.select_for_update()
            .filter(fiscal_year=fiscal_year, state__in=OPEN_STATES)
            .first()
        )
        if open_run is not None:
            if open_run.state == StatementRunState.INTERRUPTED and enqueue:
                _enqueue(open_run)  # past its automatic resumes: asking again resumes it
            return open_run
        run = StatementRun.objects.create(
            fiscal_year=fiscal_year,
            requested_by=acting_user,
            total=statement_employees(fiscal_year).count(),
        )
        if enqueue:
            _enqueue(run)
    return run


def _run_dir(run: StatementRun) -> Path:
    return Path(private_statement_storage().path(f"statements/run-{run.pk}"))


def _employees(fiscal_year: int) -> Iterator[Employee]:
    after = 0
    while True:
        batch = list(
            statement_employees(fiscal_year)
            .filter(pk__gt=after)
            .select_related("user", "level", "team")
            .order_by("pk")[:BATCH]
        )
        if not batch:
            return
        after = batch[-1].pk
        yield from batch


def _progress(run: StatementRun, *, done: int, without_pay: int) -> None:
    # A plain UPDATE, outside any transaction, so the page sees it at once.
    StatementRun.objects.filter(pk=run.pk).update(
        done=done, without_pay=without_pay, heartbeat_at=timezone.now()
    )


def _make_all(run: StatementRun, folder: Path) -> tuple[int, int, dict]:
    """One PDF per employee into `folder` (a statement already there, from an interrupted
    attempt, is kept); returns how many, how many without pay, and timings."""
    context = rollover_context(fiscal_year=run.fiscal_year)  # once: the same for everyone
    fonts = font_cache()  # loaded once for the whole batch
    done = without_pay = 0
    pdf_seconds = 0.0
    last = time.monotonic()
    for employee in _employees(run.fiscal_year):
        statement = rewards_statement(
            employee=employee, fiscal_year=run.fiscal_year, context=context
        )
        without_pay += statement.pay is None
        target = folder / statement.filename
        if not target.exists():
            started = time.perf_counter()
            pdf = statement_pdf(statement, fonts=fonts)
            pdf_seconds += time.perf_counter() - started
            partial = target.with_suffix(".part")
            partial.write_bytes(pdf)
            partial.replace(target)  # a killed worker never leaves half a statement
        done += 1
        if time.monotonic() - last >= PROGRESS_EVERY_SECONDS:
            _progress(run, done=done, without_pay=without_pay)
            last = time.monotonic()
    return done, without_pay, {"pdf_seconds": round(pdf_seconds, 3)}


def _zip(run: StatementRun, folder: Path) -> str:
    """The statements in one zip (stored, not deflated: PDFs are compressed already), written
    file by file, never held in memory; returns its storage name."""
    name = f"statements/total-rewards-FY{run.fiscal_year}-{run.pk}.zip"
    path = Path(private_statement_storage().path(name))
    partial = path.with_suffix(".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
        for pdf in sorted(folder.glob("*.pdf")):
            archive.write(pdf, arcname=pdf.name)
    partial.replace(path)
    return name


def statement_run_make(*, run: StatementRun) -> StatementRun:
    """Make the run's statements and its zip. A finished run is left as it is; a failure is
    recorded (on a fresh connection if need be) and the run may be asked for again."""
    now = timezone.now()
    # The claim, one UPDATE: queued or interrupted, or running with a stale heartbeat (a lost
    # worker the sweep has not seen yet). Running with a fresh one, another worker is on it.
    claimed = StatementRun.objects.filter(
        Q(state__in=(StatementRunState.QUEUED, StatementRunState.INTERRUPTED)) | _lost(now),
        pk=run.pk,
    ).update(state=StatementRunState.RUNNING, started_at=now, heartbeat_at=now, error="")
    run.refresh_from_db()
    if not claimed:
        if run.state == StatementRunState.RUNNING:
            logger.info("statement run %s is being made by another worker; not again", run.pk)
        return run
    # the heartbeat moves during the zip too, and any one slow statement
    with heartbeat(
        lambda: StatementRun.objects.filter(pk=run.pk, state=StatementRunState.RUNNING).update(
            heartbeat_at=timezone.now()
        )
    ):
        return _make(run)


def _lost(now: datetime) -> Q:
    """Running with no heartbeat for ALLOT_RUN_STALLED_AFTER_SECONDS: its worker is gone."""
    stale = now - timedelta(seconds=settings.ALLOT_RUN_STALLED_AFTER_SECONDS)
    return Q(state=StatementRunState.RUNNING, heartbeat_at__lt=stale)


def _make(run: StatementRun) -> StatementRun:
    try:
        started = time.perf_counter()
        folder = _run_dir(run)
        folder.mkdir(parents=True, exist_ok=True)
        done, without_pay, timings = _make_all(run, folder)
        _progress(run, done=done, without_pay=without_pay)
        run.archive.name = _zip(run, folder)
        timings["seconds"] = round(time.perf_counter() - started, 3)
        for pdf in folder.glob("*.pdf"):  # in the zip now; pay is private, keep one copy
            pdf.unlink()
        folder.rmdir()
        StatementRun.objects.filter(pk=run.pk).update(
            state=StatementRunState.DONE,
            total=done,
            done=done,
            without_pay=without_pay,
            archive=run.archive.name,
            timings=timings,
            finished_at=timezone.now(),
        )
    except Exception as exc:
        logger.exception("statement run %s failed", run.pk)
        error = f"{type(exc).__name__}: {exc}"
        on_fresh_connection(
            lambda: StatementRun.objects.filter(pk=run.pk).update(
                state=StatementRunState.FAILED, error=error, finished_at=timezone.now()
            )
        )
        run.refresh_from_db()
        raise
    run.refresh_from_db()
    logger.info("statement run %s: %d statements in %s", run.pk, run.done, run.timings)
    return run


def statement_runs_resume(*, now: datetime | None = None) -> int:
    """Every minute: a run "running" with no progress for ALLOT_RUN_STALLED_AFTER_SECONDS lost
    its worker; it becomes interrupted and is queued again (up to ALLOT_RUN_MAX_RESUMES)."""
    now = now or timezone.now()
    interrupted = 0
    with transaction.atomic():
        runs = StatementRun.objects.filter(_lost(now)).select_for_update(skip_locked=True)
        for run in runs.order_by("pk"):
            run.state = StatementRunState.INTERRUPTED
            run.error = f"Stopped after {run.done} of {run.total} statements."
            run.resumes += 1
            run.save(update_fields=["state", "error", "resumes"])
            if run.resumes <= settings.ALLOT_RUN_MAX_RESUMES:
                _enqueue(run)
            interrupted += 1
    return interrupted
