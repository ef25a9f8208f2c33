import logging

from celery import shared_task

from people.services import leavers_due_close

logger = logging.getLogger(__name__)


@shared_task(name="people.leavers_close", soft_time_limit=600, time_limit=660)
def leavers_close() -> int:
    closed = leavers_due_close()
    logger.info("people.leavers_close: %d employees past their last day closed", closed)
    return closed
