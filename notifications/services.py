"""The one way to tell people something: an in-app message, and its email after commit."""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.utils import timezone

from notifications.models import MESSAGE_LENGTH, Notification
from outbox.services import Job, outbox_enqueue


def notify(
    users: Iterable[AbstractBaseUser | None], message: str, *, alert: models.Model | None = None
) -> list[Notification]:
    """Record `message` for each person (once each; None skipped) and email it after commit.

    With an alert, a person already told of it is not told again (the row's unique constraint),
    so checking an alert twice sends nothing twice. Returns the notifications it made."""
    made = []
    for user in {u.pk: u for u in users if u is not None}.values():
        text = message[:MESSAGE_LENGTH]
        if alert is None:
            note, created = Notification.objects.create(user=user, message=text), True
        else:
            note, created = Notification.objects.get_or_create(
                user=user, alert=alert, defaults={"message": text}
            )
        if created:
            made.append(note)
    # In the caller's transaction: sent by the outbox relay once it commits (sending claims the
    # row, so a second delivery mails nothing).
    outbox_enqueue(Job("notifications.notification_email_send", args=[note.pk]) for note in made)
    return made


def notifications_mark_read(*, user: AbstractBaseUser) -> int:
    """Mark every unread notification of `user` read; returns how many."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )
