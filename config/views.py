"""Health: liveness (/healthz, the app answers) and readiness (/healthz/ready: the database,
the broker and a worker answer), neither saying more than up or down to the public."""

import logging
import os
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from outbox.services import worker_beat_age

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2


def database_status() -> str | None:
    """None when the database answers, else the name of the error."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any database failure means "not healthy"
        connection.close()  # the next request reconnects, so the app recovers on its own
        return exc.__class__.__name__
    return None


def broker_status() -> str | None:
    """None when the Celery broker accepts a connection, else the name of the error.

    The serverless filesystem broker is up when its queue folder is writable."""
    url = settings.CELERY_BROKER_URL  # what the Celery app was configured from
    if url.startswith("filesystem://"):
        options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
        folder = Path(options.get("data_folder_in", settings.VAR_DIR / "broker" / "queue"))
        writable = folder.is_dir() and os.access(folder, os.W_OK)
        return None if writable else "BrokerFolderUnavailable"
    try:
        with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS) as broker:
            broker.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
            broker.default_channel  # noqa: B018 - opening a channel proves the broker answers
    except Exception as exc:  # noqa: BLE001 - any broker failure means "not healthy"
        return exc.__class__.__name__
    return None


def worker_status() -> str | None:
    """None when a worker ran the outbox relay lately (beat, the broker and a worker all work:
    it is sent by beat through the broker), else why not."""
    try:
        age = worker_beat_age()
    except Exception as exc:  # noqa: BLE001 - no database, no way to tell
        return exc.__class__.__name__
    if age is None:
        return "NeverRan"
    if age > settings.ALLOT_READY_WORKER_STALE_SECONDS:
        return f"LastRan{int(age)}sAgo"
    return None


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the app answers (no database, no broker asked). A load balancer restarts a
    process that fails this; it sends traffic by /healthz/ready."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def healthz_ready(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database, the broker and a worker answer; 503 saying which is
    down otherwise. What failed and why goes to the log, not to the public."""
    checks = {"database": database_status(), "broker": broker_status(), "worker": worker_status()}
    body = {name: ("down" if error else "ok") for name, error in checks.items()}
    errors = {name: error for name, error in checks.items() if error}
    if errors:
        logger.warning("readiness: %s", ", ".join(f"{k} {v}" for k, v in errors.items()))
        return JsonResponse(body, status=503)
    return JsonResponse(body)
