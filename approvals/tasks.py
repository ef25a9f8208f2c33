import logging

from celery import shared_task

from approvals.services import approvals_escalate, approvals_expire

logger = logging.getLogger(__name__)


@shared_task(name="approvals.escalate", soft_time_limit=600, time_limit=660)
def escalate() -> int:
    moved = approvals_escalate()
    logger.info("approvals.escalate: %d waiting steps moved up a level", moved)
    return moved


@shared_task(name="approvals.expire", soft_time_limit=600, time_limit=660)
def expire() -> int:
    expired = approvals_expire()
    logger.info("approvals.expire: %d requests past their end date expired", expired)
    return expired
