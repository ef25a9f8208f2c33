"""What the daily beat entry does at the start of a fiscal year."""

import logging
from datetime import date

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from budgets.models import (
    Budget,
    RolloverRun,
    RolloverState,
)
from budgets.rollover.commit import rollover_confirm, rollover_enqueue
from budgets.rollover.messages import rollover_previewed_tell
from budgets.rollover.preview import rollover_preview
from people.selectors import company_settings, company_today, fiscal_year_of

logger = logging.getLogger(__name__)


# -- the scheduled start -------------------------------------------------------------------------


def rollover_scheduled_step(*, today: date | None = None) -> str:
    """What the daily beat entry does: preview the year just closed once it has ended, notify
    finance, and commit only if the company rolls over automatically. Idempotent: a run that
    exists is not previewed again, a done one is left alone."""
    today = today or company_today()
    closed_year = fiscal_year_of(today) - 1
    run = RolloverRun.objects.filter(fiscal_year=closed_year).first()
    if run is not None and run.state == RolloverState.DONE:
        return f"FY{closed_year} already rolled over; nothing to do"
    if run is not None and run.is_stalled(timezone.now()):
        rollover_enqueue(run=run)  # its worker died mid-run: pick up where it stopped
        return f"FY{closed_year} rollover had stalled at {run.owners_done:,} owners; resumed"
    left = (RolloverState.RUNNING, RolloverState.FAILED, RolloverState.INTERRUPTED)
    if run is not None and run.state in left:
        return f"FY{closed_year} rollover is {run.state}; left to finance"
    if run is None:
        if not Budget.objects.filter(fiscal_year=closed_year).exists():
            return f"no budgets in FY{closed_year}; nothing to roll over"
        run = rollover_preview(fiscal_year=closed_year, acting_user=None)
        _notify_finance(run)
    if company_settings().rollover_automatic:
        rollover_confirm(run=run, acting_user=None)
        return f"FY{closed_year} previewed and committed automatically"
    return f"FY{closed_year} previewed; waiting for finance to confirm"


def rollovers_resume(*, now=None) -> int:
    """Every minute: a running rollover with no chunk committed for
    ALLOT_RUN_STALLED_AFTER_SECONDS lost its worker. It becomes interrupted and is queued again
    (up to ALLOT_RUN_MAX_RESUMES times; then finance confirms it again in the admin). Owners
    already done have their item, so the resumed run does only the rest. Returns how many."""
    now = now or timezone.now()
    after = settings.ALLOT_RUN_STALLED_AFTER_SECONDS
    interrupted = 0
    with transaction.atomic():
        running = RolloverRun.objects.filter(state=RolloverState.RUNNING)
        for run in running.select_for_update(skip_locked=True):
            if not run.is_stalled(now, after_seconds=after):
                continue
            run.state = RolloverState.INTERRUPTED
            run.resumes += 1
            run.errors = [
                *run.errors[-19:],
                {"at": now.isoformat(), "error": f"worker lost after {run.owners_done:,} owners"},
            ]
            run.save(update_fields=["state", "resumes", "errors"])
            if run.resumes <= settings.ALLOT_RUN_MAX_RESUMES:
                rollover_enqueue(run=run)
            interrupted += 1
            logger.warning("rollover FY%s interrupted; queued again", run.fiscal_year)
    return interrupted


def _notify_finance(run: RolloverRun) -> None:
    rollover_previewed_tell(run)
