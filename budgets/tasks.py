"""Celery tasks: thin; each loads by id and calls a service, and logs one line of what it did."""

import logging

from celery import shared_task

from budgets.alerts import budget_alerts_check
from budgets.models import Budget, RolloverRun
from budgets.rollover import (
    carryover_expire_due,
    carryover_expiry_late_usage,
    reservations_release_expired,
    rollover_execute,
    rollover_scheduled_step,
    rollovers_resume,
)
from people.selectors import company_today, current_fiscal_year

logger = logging.getLogger(__name__)


@shared_task(name="budgets.alerts_check", soft_time_limit=900, time_limit=960)
def alerts_check(budget_ids: list[int], quiet: bool = False) -> int:
    fired = 0
    for budget in Budget.objects.filter(pk__in=budget_ids):
        fired += len(budget_alerts_check(budget=budget, quiet=quiet))
    logger.info("alerts_check: %d budgets checked, %d alerts fired", len(budget_ids), fired)
    return fired


@shared_task(name="budgets.alerts_scan", soft_time_limit=1200, time_limit=1500)
def alerts_scan() -> int:
    """Daily: every budget of the current year, for projected exhaustion and missed thresholds."""

    ids = list(
        Budget.objects.filter(fiscal_year=current_fiscal_year()).values_list("pk", flat=True)
    )
    return alerts_check(ids)


@shared_task(name="budgets.reservations_release", soft_time_limit=120, time_limit=150)
def reservations_release() -> int:
    released = reservations_release_expired()
    logger.info("reservations_release: %d expired holds released", released)
    return released


@shared_task(
    name="budgets.rollover_commit",
    soft_time_limit=3 * 60 * 60,
    time_limit=3 * 60 * 60 + 300,
    acks_late=True,
    reject_on_worker_lost=True,
)
def rollover_commit(run_id: int, chunk_size: int = 500) -> int:
    """Apply a confirmed rollover in chunks. A killed worker's task is delivered again (acks
    late) and resumes: owners already done have their item and are skipped."""

    run = RolloverRun.objects.filter(pk=run_id).first()
    if run is None:
        logger.info("rollover_commit: no run %s", run_id)
        return 0
    result = rollover_execute(run=run, chunk_size=chunk_size)
    if result.already_done:
        logger.info("rollover_commit: FY%s was already done; nothing changed", run.fiscal_year)
    else:
        logger.info(
            "rollover_commit: FY%s, %d owners in %d chunks, finished=%s",
            run.fiscal_year,
            result.owners,
            result.chunks,
            result.finished,
        )
    return result.owners


@shared_task(name="budgets.rollover_scheduled", soft_time_limit=1800, time_limit=1900)
def rollover_scheduled() -> str:
    """Daily: once a fiscal year has started, preview the close of the one before and tell
    finance; commit it only when the company opted into automatic rollover."""

    outcome = rollover_scheduled_step()
    logger.info("rollover_scheduled: %s", outcome)
    return outcome


@shared_task(name="budgets.carryover_expire", soft_time_limit=1800, time_limit=1900)
def carryover_expire() -> int:
    """Daily: unspent carried-over money whose expiry date has come expires (once per budget),
    and what late-reported usage from before the date drew of recent expiries is given back."""

    today = company_today()
    returned, back = carryover_expiry_late_usage(today=today)
    budgets, total = carryover_expire_due(today=today)
    logger.info(
        "carryover_expire: %d budgets, %d micro-dollars expired; %d given back %d for late usage",
        budgets,
        total,
        returned,
        back,
    )
    return budgets


@shared_task(name="budgets.rollovers_resume", soft_time_limit=50, time_limit=60)
def rollovers_resume_task() -> int:
    """Every minute: a rollover whose worker was lost is marked interrupted and queued again."""
    return rollovers_resume()
