"""The outbox: follow-up work written in the caller's transaction, relayed to Celery later.

A request never talks to the broker: `outbox_enqueue` is one INSERT in the transaction that made
the change, so the work exists if and only if the change committed, and a broker that is down or
paused costs the request nothing. `outbox_relay` (the beat job `outbox.relay`, every few
seconds) sends what is waiting, oldest first, and marks it sent; a message whose send failed
waits with a growing delay and is sent when the broker is back. Delivery is at least once (a
relay killed between the send and the mark sends it again), so every handler is idempotent."""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from outbox.models import OutboxMessage, WorkerBeat

logger = logging.getLogger(__name__)
RELAY_BATCH = 500
MAX_BACKOFF_SECONDS = 300
KEEP_SENT = timedelta(days=7)
RELAY_BEAT = "outbox_relay"


@dataclass(frozen=True, slots=True)
class Job:
    """One task to queue: its registered name, arguments and (optional) coalescing key."""

    task: str
    args: Sequence[Any] = ()
    kwargs: dict[str, Any] | None = None
    coalesce_key: str = ""


def outbox_enqueue(jobs: Iterable[Job]) -> int:
    """Queue `jobs` in the current transaction (one INSERT). A job whose coalesce key already
    has a message waiting is dropped: the waiting one does the same work. Returns how many
    jobs were given."""
    now = timezone.now()
    rows = [
        OutboxMessage(
            task=job.task,
            args=list(job.args),
            kwargs=job.kwargs or {},
            coalesce_key=job.coalesce_key,
            created_at=now,
            available_at=now,
        )
        for job in jobs
    ]
    if not rows:
        return 0
    OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True)
    if getattr(settings, "ALLOT_OUTBOX_RELAY_ON_COMMIT", False):
        # Tests and the development server: relay as soon as the change committed (robust: a
        # failed send waits for the beat relay instead of failing the caller).
        transaction.on_commit(outbox_relay, robust=True)
    return len(rows)


@dataclass(slots=True)
class RelayResult:
    sent: int = 0
    failed: int = 0


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, 2**attempts))


def _pending(now: datetime):
    query = OutboxMessage.objects.filter(sent_at__isnull=True, available_at__lte=now)
    if connection.vendor == "postgresql":
        # Two relays at once each take their own rows: a message is not sent twice by them.
        query = query.select_for_update(skip_locked=True)
    return query.order_by("pk")


def _send(message: OutboxMessage) -> None:
    if message.task not in current_app.tasks:
        current_app.loader.import_default_modules()  # the web process has not imported them all
    task = current_app.tasks[message.task]
    # retry=False: a broker that refuses is this message's failed attempt (it waits and goes
    # again), not a relay stuck retrying.
    task.apply_async(args=message.args, kwargs=message.kwargs, retry=False)


def outbox_relay(*, batch: int = RELAY_BATCH) -> RelayResult:
    """Send every waiting message (oldest first) to the broker and mark it sent. Stops at the
    first failed send: the broker is likely down, and the rest keep their order."""
    result = RelayResult()
    while True:
        now = timezone.now()
        with transaction.atomic():
            messages = list(_pending(now)[:batch])
            sent = []
            for message in messages:
                try:
                    _send(message)
                except Exception as exc:  # noqa: BLE001 - any failure: retry later, keep order
                    message.attempts += 1
                    message.last_error = f"{type(exc).__name__}: {exc}"[:1000]
                    message.available_at = now + _backoff(message.attempts)
                    message.save(update_fields=["attempts", "last_error", "available_at"])
                    result.failed += 1
                    logger.warning("outbox: %s not sent (%s), retried later", message, exc)
                    break
                sent.append(message.pk)
            OutboxMessage.objects.filter(pk__in=sent).update(sent_at=now)
        result.sent += len(sent)
        if result.failed or len(messages) < batch:
            return result


def outbox_prune(*, now: datetime | None = None) -> int:
    """Forget messages sent more than a week ago."""
    now = now or timezone.now()
    deleted, _ = OutboxMessage.objects.filter(sent_at__lt=now - KEEP_SENT).delete()
    return deleted


def worker_beat_record(name: str = RELAY_BEAT) -> None:
    WorkerBeat.objects.update_or_create(name=name, defaults={"at": timezone.now()})


def worker_beat_age(name: str = RELAY_BEAT) -> float | None:
    """Seconds since the job `name` last ran in a worker; None if it never did."""
    at = WorkerBeat.objects.filter(name=name).values_list("at", flat=True).first()
    return None if at is None else (timezone.now() - at).total_seconds()
