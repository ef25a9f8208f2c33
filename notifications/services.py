"""The one way to tell people something: an in-app message, and its email after commit."""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import models
from django.utils import timezone

from notifications.kinds import Kind
from notifications.models import MESSAGE_LENGTH, Notification, NotificationPreference
from notifications.slack import slack_queue, slack_settings
from outbox.services import Job, outbox_enqueue


def email_queue(notification_ids: list[int]) -> None:
    """Queue these notifications' emails in the caller's transaction: the one place that does.
    The outbox relay sends them once the transaction commits (sending claims the row, so a
    second delivery mails nothing); if the broker is down they wait in the outbox."""
    outbox_enqueue(
        Job("notifications.notification_email_send", args=[pk]) for pk in notification_ids
    )


def _digest_users(user_ids: list[int]) -> set[int]:
    return set(
        NotificationPreference.objects.filter(user_id__in=user_ids, daily_digest=True).values_list(
            "user_id", flat=True
        )
    )


def notify(
    users: Iterable[AbstractBaseUser | None],
    message: str,
    *,
    alert: models.Model | None = None,
    kind: str = Kind.OTHER,
    subject: str = "",
    link: str = "",
    target: str = "",
) -> list[Notification]:
    """Record `message` for each person (once each; None skipped) and email it after commit,
    unless they chose the daily digest (then the digest task sends it with the day's others).

    `subject` is the email's subject, `link` the path of the page where it is acted on, and
    `target` names what it asks about, so `notifications_done(target)` marks it done once
    decided. With an alert, a person already told of it is not told again (the row's unique
    constraint), so checking an alert twice sends nothing twice. Returns the notifications."""
    people = {u.pk: u for u in users if u is not None}
    digest = _digest_users(list(people))
    fields = {
        "message": message[:MESSAGE_LENGTH],
        "kind": kind,
        "subject": subject[:200],
        "link": link[:500],
        "target": target[:80],
    }
    slack_on = slack_settings() is not None
    made = []
    for user in people.values():
        if alert is None:
            note, created = Notification.objects.create(user=user, **fields), True
        else:
            note, created = Notification.objects.get_or_create(
                user=user, alert=alert, defaults=fields
            )
        if created:
            made.append(note)
    # one outbox write for the emails (and one for Slack), whoever is told
    emailed = [note.pk for note in made if note.user_id not in digest]
    if emailed:
        email_queue(emailed)
    if slack_on and made:
        slack_queue([note.pk for note in made])
    return made


def notifications_done(*, target: str, note: str = "", prefix: bool = False) -> int:
    """Mark done every message about `target` (or, with prefix, every target starting so): a
    decision taken shows as done wherever its message shows. Returns how many."""
    if not target:
        return 0
    rows = Notification.objects.filter(done_at__isnull=True)
    rows = rows.filter(target__startswith=target) if prefix else rows.filter(target=target)
    return rows.update(done_at=timezone.now(), done_note=note[:120])


def notifications_mark_read(*, user: AbstractBaseUser) -> int:
    """Mark every unread notification of `user` read; returns how many."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def notification_preference_set(*, user: AbstractBaseUser, daily_digest: bool) -> None:
    """One email per message, or one digest a day."""
    NotificationPreference.objects.update_or_create(
        user=user, defaults={"daily_digest": daily_digest}
    )
