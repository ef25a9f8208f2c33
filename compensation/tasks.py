import logging

from celery import shared_task

from compensation.services import offers_expire

logger = logging.getLogger(__name__)


@shared_task(name="compensation.offers_expire", soft_time_limit=600, time_limit=660)
def expire() -> int:
    expired = offers_expire()
    logger.info("compensation.offers_expire: %d sent offers past their deadline expired", expired)
    return expired
