"""Outbound webhooks for integrators: an event goes to every active endpoint that wants its type,
as a JSON POST signed like Stripe's and GitHub's (HMAC-SHA256 of the timestamp and the body, in a
header), tried again with backoff for a day, each try logged with its response code.

The signature header: `Allot-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
"<t>.<body>")>`. A receiver recomputes it over the raw body, compares in constant time, refuses
an old timestamp, and drops an event id it has seen (`Allot-Event-Id`, also the body's "id"):
a delivery whose answer was lost is sent again."""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from notifications.models import DeliveryState, WebhookDelivery, WebhookEndpoint, WebhookEvent
from outbox.services import Job, outbox_enqueue

EVENT_TYPES = ("request.decided", "budget.threshold", "ping")
# Seconds before each try after the first: about a day in all, then the delivery is failed.
BACKOFF = (60, 300, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600)
GIVE_UP_AFTER = timedelta(days=1)
TIMEOUT_SECONDS = 10


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_queue(delivery_id: int, *, countdown: int = 0) -> None:
    """Queue one delivery's try: the one place that does. The first try goes through the outbox
    in the caller's transaction (a request never waits on the broker, and nothing is lost while
    it is down); a retry, queued by the worker after a failed try, waits `countdown` seconds."""
    if not countdown:
        outbox_enqueue([Job("notifications.webhook_deliver", args=[delivery_id])])
        return
    # tasks call services and this service queues the task: the one way back, so not at the top
    from notifications.tasks import webhook_deliver

    transaction.on_commit(
        lambda: webhook_deliver.apply_async((delivery_id,), countdown=countdown), robust=True
    )


def webhook_publish(
    event_type: str, data: dict, *, endpoints: list[WebhookEndpoint] | None = None
) -> WebhookEvent | None:
    """Record the event and a delivery to each endpoint that wants it (or to `endpoints`, for
    the admin's "send test"); each is sent after commit. None when nobody wants it."""
    if endpoints is None:
        endpoints = [e for e in WebhookEndpoint.objects.filter(active=True) if e.wants(event_type)]
    if not endpoints:
        return None
    event = WebhookEvent.objects.create(id=f"evt_{uuid.uuid4().hex}", type=event_type, data=data)
    for endpoint in endpoints:
        delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event)
        webhook_queue(delivery.pk)
    return event


def _body(event: WebhookEvent) -> bytes:
    return json.dumps(
        {
            "id": event.id,
            "type": event.type,
            "created": int(event.created_at.timestamp()),
            "data": event.data,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def _post(endpoint: WebhookEndpoint, event: WebhookEvent) -> tuple[int | None, str]:
    body = _body(event)
    if not endpoint.url.startswith(("https://", "http://")):
        return None, "not an http(s) address"
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Allot-Webhooks/1",
            "Allot-Event-Id": event.id,
            "Allot-Signature": signature(endpoint.secret, int(time.time()), body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310  # nosec B310 (scheme checked above)
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, f"answered {error.code}"
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        return None, f"could not be reached: {error}"[:300]


def webhook_attempt(delivery_id: int) -> int | None:
    """Try one delivery once; returns the seconds until the next try, or None when it is done
    (delivered, given up, or not pending). The row is locked for the try, so two workers do not
    send it at once."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint", "event")
            .filter(pk=delivery_id, state=DeliveryState.PENDING)
            .first()
        )
        if delivery is None:
            return None
        code, error = _post(delivery.endpoint, delivery.event)
        now = timezone.now()
        delivery.attempts += 1
        delivery.response_code, delivery.error, delivery.last_attempt_at = code, error, now
        wait = None
        if code is not None and 200 <= code < 300:
            delivery.state, delivery.delivered_at, delivery.next_attempt_at = (
                DeliveryState.DELIVERED,
                now,
                None,
            )
        elif delivery.attempts > len(BACKOFF) or now - delivery.created_at >= GIVE_UP_AFTER:
            delivery.state, delivery.next_attempt_at = DeliveryState.FAILED, None
        else:
            wait = BACKOFF[delivery.attempts - 1]
            delivery.next_attempt_at = now + timedelta(seconds=wait)
        delivery.save()
    return wait
