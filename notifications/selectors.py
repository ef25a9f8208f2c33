"""Reads of the notifications, for the pages that show them."""

from django.contrib.auth.models import AbstractBaseUser

from notifications.models import Notification


def notifications_recent(*, user: AbstractBaseUser, limit: int = 10) -> list[Notification]:
    """The unread first, then the newest: what the dashboard lists."""
    return list(Notification.objects.filter(user=user).order_by("read_at", "-created_at")[:limit])
