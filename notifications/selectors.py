"""Reads of the notifications, for the pages that show them."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F

from notifications.models import Notification, NotificationPreference


def notifications_recent(*, user: AbstractBaseUser, limit: int = 10) -> list[Notification]:
    """What the dashboard lists: the unread first (read_at NULL, first on every database:
    PostgreSQL would put NULLs last in ascending order), then by when read, the newest first."""
    return list(
        Notification.objects.filter(user=user).order_by(
            F("read_at").asc(nulls_first=True), "-created_at"
        )[:limit]
    )


def notification_digest_chosen(*, user: AbstractBaseUser) -> bool:
    return NotificationPreference.objects.filter(user=user, daily_digest=True).exists()
