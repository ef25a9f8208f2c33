"""Celery tasks of the connectors: thin, each calls the sync service."""

import logging

from celery import shared_task

from common.errors import AllotError
from connectors.models import ProviderConnection
from connectors.sync import summary, usage_sync, usage_sync_recorded

logger = logging.getLogger(__name__)


@shared_task(name="connectors.usage_sync_all", soft_time_limit=1500, time_limit=1800)
def usage_sync_all() -> dict[str, str]:
    """Hourly: every active connection's reports, one provider after another. A provider that
    fails is logged and the others still run; a run already going is skipped by its lease."""
    done = {}
    for provider in ProviderConnection.objects.filter(is_active=True).values_list(
        "provider", flat=True
    ):
        try:
            outcomes = usage_sync(provider, progress=logger.info)
        except AllotError as error:
            logger.warning("usage sync of %s failed: %s", provider, error.message)
            done[provider] = f"failed: {error.message}"
            continue
        done[provider] = "; ".join(summary(o) for o in outcomes)
    return done


@shared_task(name="connectors.usage_sync_one", soft_time_limit=1500, time_limit=1800)
def usage_sync_one(provider: str) -> str:
    """Finance's "Sync now" (connectors.services.sync_queue): one provider's reports, its
    result written on the connection for the admin to show."""
    return usage_sync_recorded(provider)
