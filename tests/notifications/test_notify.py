from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from notifications.models import Notification
from notifications.selectors import notifications_recent
from notifications.services import notifications_mark_read, notify
from notifications.tasks import notifications_resend
from outbox.models import OutboxMessage
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_each_person_is_told_once_in_the_app_and_by_email_after_commit(
    django_capture_on_commit_callbacks,
):
    ada, bob = UserFactory(email="ada@example.com"), UserFactory(email="bob@example.com")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        made = notify([ada, None, bob, ada], "x" * 400)
        assert not mail.outbox  # the email waits for the commit
    assert [note.user for note in made] == [ada, bob]
    assert {len(note.message) for note in made} == {300}  # cut to what the row holds
    assert len(callbacks) == 1  # the outbox's relay, which sent both emails
    assert OutboxMessage.objects.filter(sent_at__isnull=False).count() == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@example.com", "bob@example.com"]
    assert Notification.objects.filter(emailed_at__isnull=False).count() == 2


def test_the_dashboard_lists_a_persons_own_and_marking_read_reads_them_all():
    ada = UserFactory()
    read, unread = notify([ada], "read"), notify([ada], "unread")
    notify([UserFactory()], "someone else's")
    Notification.objects.filter(pk=read[0].pk).update(read_at=timezone.now())
    assert [n.message for n in notifications_recent(user=ada)] == ["unread", "read"]
    assert notifications_mark_read(user=ada) == 1
    assert not Notification.objects.filter(user=ada, read_at__isnull=True).exists()
    assert unread[0].pk in {n.pk for n in notifications_recent(user=ada)}


def test_the_hourly_sweep_sends_what_the_broker_lost_once():
    ada = UserFactory(email="ada@example.com")
    (note,) = notify([ada], "lost")  # its on-commit email never ran
    assert notifications_resend() == 0  # too fresh: its own task may still be coming
    Notification.objects.filter(pk=note.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert notifications_resend() == 1
    assert notifications_resend() == 0
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
