"""Reads of the notifications, for the pages that show them."""

from django.contrib.auth.models import AbstractBaseUser

from notifications.models import Notification


def notifications_recent(*, user: AbstractBaseUser, limit: int = 10) -> list[Notification]:
    """What the dashboard lists: by read_at, then the newest. The unread (read_at NULL) sort
    first on SQLite but last on PostgreSQL, which puts NULLs last in ascending order."""
    return list(Notification.objects.filter(user=user).order_by("read_at", "-created_at")[:limit])
