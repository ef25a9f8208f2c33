"""Celery tasks of the connectors: thin, each calls the sync service."""

import logging

from celery import shared_task

from connectors.models import ProviderConnection
from connectors.sync import usage_sync_recorded

logger = logging.getLogger(__name__)


@shared_task(name="connectors.usage_sync_all", soft_time_limit=1500, time_limit=1800)
def usage_sync_all() -> dict[str, str]:
    """Hourly: every active connection's reports, one provider after another, each one's result
    written on its connection (as Sync now does). A provider that fails is logged and the others
    still run; a run already going is skipped by its lease."""
    done = {}
    for provider in ProviderConnection.objects.filter(is_active=True).values_list(
        "provider", flat=True
    ):
        done[provider] = usage_sync_recorded(provider)
        if done[provider].startswith("failed: "):
            logger.warning("usage sync of %s %s", provider, done[provider])
    return done


@shared_task(name="connectors.usage_sync_one", soft_time_limit=1500, time_limit=1800)
def usage_sync_one(provider: str) -> str:
    """Finance's "Sync now" (connectors.services.sync_queue): one provider's reports, its
    result written on the connection for the admin to show."""
    return usage_sync_recorded(provider)
