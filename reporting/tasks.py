"""Celery tasks of the reports: thin, each calls a service."""

import logging

from celery import shared_task

from reporting.models import ReportRun
from reporting.services import report_quarter_start, report_run_build, report_runs_resume

logger = logging.getLogger(__name__)


@shared_task(name="reporting.report_build", soft_time_limit=1500, time_limit=1800)
def report_build(run_id: int) -> str:
    run = ReportRun.objects.filter(pk=run_id).first()
    if run is None:
        logger.warning("report_build: run %s does not exist", run_id)
        return "missing"
    return report_run_build(run=run).state


@shared_task(name="reporting.quarter_start", soft_time_limit=60, time_limit=90)
def quarter_start() -> int | None:
    """Daily: on the first day of a fiscal quarter, the report of the quarter that ended."""
    run = report_quarter_start()
    return run.pk if run else None


@shared_task(name="reporting.runs_resume", soft_time_limit=50, time_limit=60)
def runs_resume() -> int:
    """Every minute: builds whose worker was lost are marked interrupted and queued again."""
    return report_runs_resume()
