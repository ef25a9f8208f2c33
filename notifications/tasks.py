"""Celery tasks: the email of one notification, the hourly sweep of those still unsent, and the
daily digest of those who chose it."""

import logging
from datetime import timedelta

from celery import shared_task
from django.core.mail import send_mail
from django.db import models, transaction
from django.utils import timezone

from notifications.email import digest_body, email_body, email_subject
from notifications.models import (
    DeliveryState,
    Notification,
    NotificationPreference,
    WebhookDelivery,
)

logger = logging.getLogger(__name__)


@shared_task(
    name="notifications.notification_email_send",
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
    soft_time_limit=60,
    time_limit=90,
)
def notification_email_send(notification_id: int) -> bool:
    """Email one notification once: the row is claimed (emailed_at) in the same transaction as
    the send, so a retry after a failure sends it, and a duplicate task run does not. A message
    already done (its decision taken before the email went) is not sent."""
    with transaction.atomic():
        note = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=notification_id, emailed_at__isnull=True)
            .first()
        )
        if note is None or not note.user.email:
            return False
        if note.done_at is None:
            send_mail(
                subject=email_subject(note),
                message=email_body(note),
                from_email=None,
                recipient_list=[note.user.email],
            )
        note.emailed_at = timezone.now()
        note.save(update_fields=["emailed_at"])
    logger.info("notification_email_send: notification %s emailed", notification_id)
    return True


def _digest_user_ids() -> list[int]:
    return list(
        NotificationPreference.objects.filter(daily_digest=True).values_list("user_id", flat=True)
    )


@shared_task(name="notifications.notifications_resend", soft_time_limit=300, time_limit=360)
def notifications_resend() -> int:
    """Hourly: queue the emails of notifications still unsent after ten minutes (the broker was
    down when they were made, or every retry failed). Sending claims the row, so never twice.
    Those of people on the daily digest wait for it."""
    cutoff = timezone.now() - timedelta(minutes=10)
    ids = list(
        Notification.objects.filter(emailed_at__isnull=True, created_at__lte=cutoff)
        .exclude(user_id__in=_digest_user_ids())
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )
    for notification_id in ids:
        notification_email_send.delay(notification_id)
    logger.info("notifications_resend: %d unsent notifications queued", len(ids))
    return len(ids)


@shared_task(
    name="notifications.digest_send",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=8,
    soft_time_limit=300,
    time_limit=360,
)
def notifications_digest_send() -> int:
    """Daily: one email per person on the digest, with their messages not yet emailed that are
    not done yet (a decision taken is left out; the app shows it done). Claimed like the single
    email, in the send's transaction, so a rerun sends nothing twice. Returns emails sent."""
    sent = 0
    for user_id in _digest_user_ids():
        with transaction.atomic():
            notes = list(
                Notification.objects.select_for_update(of=("self",))
                .select_related("user")
                .filter(user_id=user_id, emailed_at__isnull=True)
                .order_by("created_at", "pk")
            )
            if not notes:
                continue
            open_notes = [n for n in notes if n.done_at is None]
            email = notes[0].user.email
            if open_notes and email:
                send_mail(
                    subject=f"Allot: your daily digest ({len(open_notes)} new)",
                    message=digest_body(open_notes),
                    from_email=None,
                    recipient_list=[email],
                )
                sent += 1
            Notification.objects.filter(pk__in=[n.pk for n in notes]).update(
                emailed_at=timezone.now()
            )
    logger.info("notifications_digest_send: %d digests sent", sent)
    return sent


@shared_task(name="notifications.webhook_deliver", soft_time_limit=60, time_limit=90)
def webhook_deliver(delivery_id: int) -> str:
    """One try of one webhook delivery; a failure queues the next try with backoff."""
    # the service module queues this task: imported here so the two modules do not loop
    from notifications.webhooks import webhook_attempt, webhook_queue

    wait = webhook_attempt(delivery_id)
    if wait is not None:
        webhook_queue(delivery_id, countdown=wait)
    logger.info("webhook_deliver: delivery %s, next try in %s s", delivery_id, wait)
    return "retry" if wait is not None else "done"


@shared_task(name="notifications.webhooks_resend", soft_time_limit=300, time_limit=360)
def webhooks_resend() -> int:
    """Hourly: queue the tries the broker lost (a pending delivery whose next try is ten
    minutes overdue). A try locks its row and checks it is pending, so never twice at once."""
    # the service module queues this task: imported here so the two modules do not loop
    from notifications.webhooks import webhook_queue

    cutoff = timezone.now() - timedelta(minutes=10)
    overdue = WebhookDelivery.objects.filter(state=DeliveryState.PENDING).filter(
        models.Q(next_attempt_at__lte=cutoff)
        | models.Q(next_attempt_at__isnull=True, created_at__lte=cutoff)
    )
    ids = list(overdue.order_by("pk").values_list("pk", flat=True)[:1000])
    for delivery_id in ids:
        webhook_queue(delivery_id)
    return len(ids)


@shared_task(
    name="notifications.notification_slack_send",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
)
def notification_slack_send(notification_id: int) -> bool:
    """One notification to Slack (notifications/slack.py)."""
    # the service module queues this task: imported here so the two modules do not loop
    from notifications.slack import slack_send

    note = Notification.objects.select_related("user").filter(pk=notification_id).first()
    return bool(note) and slack_send(note)
