"""Celery tasks: the email of one notification, and the hourly sweep of those still unsent."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from notifications.models import Notification

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
    the send, so a retry after a failure sends it, and a duplicate task run does not."""
    with transaction.atomic():
        note = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=notification_id, emailed_at__isnull=True)
            .first()
        )
        if note is None or not note.user.email:
            return False
        send_mail(
            subject="Allot: token budget alert",
            message=f"{note.message}\n\nSee your budget at {settings.ALLOT_BASE_URL}/",
            from_email=None,
            recipient_list=[note.user.email],
        )
        note.emailed_at = timezone.now()
        note.save(update_fields=["emailed_at"])
    logger.info("notification_email_send: notification %s emailed", notification_id)
    return True


@shared_task(name="notifications.notifications_resend", soft_time_limit=300, time_limit=360)
def notifications_resend() -> int:
    """Hourly: queue the emails of notifications still unsent after ten minutes (the broker was
    down when they were made, or every retry failed). Sending claims the row, so never twice."""
    cutoff = timezone.now() - timedelta(minutes=10)
    ids = list(
        Notification.objects.filter(emailed_at__isnull=True, created_at__lte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )
    for notification_id in ids:
        notification_email_send.delay(notification_id)
    logger.info("notifications_resend: %d unsent notifications queued", len(ids))
    return len(ids)
