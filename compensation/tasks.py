import logging

from celery import shared_task

from compensation.models import StatementRun
from compensation.services import offers_expire
from compensation.statements import statement_run_make, statement_runs_resume

logger = logging.getLogger(__name__)


@shared_task(name="compensation.offers_expire", soft_time_limit=600, time_limit=660)
def expire() -> int:
    expired = offers_expire()
    logger.info("compensation.offers_expire: %d sent offers past their deadline expired", expired)
    return expired


@shared_task(
    name="compensation.statements_make", soft_time_limit=3 * 3600, time_limit=3 * 3600 + 60
)
def statements_make(run_id: int) -> str:
    """Every employee's total rewards statement of a run (the long queue)."""
    run = StatementRun.objects.filter(pk=run_id).first()
    if run is None:
        return "gone"
    return statement_run_make(run=run).state


@shared_task(name="compensation.statement_runs_resume", soft_time_limit=50, time_limit=60)
def statement_runs_resume_task() -> int:
    """Every minute: statement runs whose worker was lost are queued again."""
    return statement_runs_resume()
