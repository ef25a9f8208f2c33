"""The relay's beat job: thin, it calls the service."""

import logging

from celery import shared_task

from outbox.services import outbox_prune, outbox_relay, worker_beat_record

logger = logging.getLogger(__name__)


@shared_task(name="outbox.relay", soft_time_limit=50, time_limit=60, ignore_result=True)
def relay() -> int:
    """Every few seconds: send what requests queued; record that a worker ran it."""
    worker_beat_record()
    result = outbox_relay()
    if result.sent or result.failed:
        logger.info("outbox.relay: %d sent, %d failed", result.sent, result.failed)
    return result.sent


@shared_task(name="outbox.prune", soft_time_limit=300, time_limit=360)
def prune() -> int:
    return outbox_prune()
