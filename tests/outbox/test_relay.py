"""The outbox: work is queued with the change that asked for it, relayed at least once, kept in
order, waited on with a growing delay when a send fails, and coalesced per key."""

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from notifications.services import notify
from outbox.models import OutboxMessage
from outbox.services import Job, outbox_enqueue, outbox_prune, outbox_relay, worker_beat_age
from outbox.tasks import relay
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _beat_relays(settings):
    settings.ALLOT_OUTBOX_RELAY_ON_COMMIT = False  # these tests are the relay


def test_work_queued_in_a_transaction_that_rolls_back_is_never_sent():
    ada = UserFactory(email="ada@example.com")
    with pytest.raises(RuntimeError), transaction.atomic():
        notify([ada], "never")
        raise RuntimeError("the change failed")

    assert OutboxMessage.objects.count() == 0
    assert outbox_relay().sent == 0
    assert mail.outbox == []


def test_the_relay_sends_what_a_request_queued_once_and_marks_it_sent():
    ada = UserFactory(email="ada@example.com")
    notify([ada], "hello")
    assert mail.outbox == []  # nothing talked to the broker yet

    first = outbox_relay()
    second = outbox_relay()

    assert (first.sent, second.sent) == (1, 0)
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    assert OutboxMessage.objects.get().sent_at is not None


def test_a_message_delivered_twice_is_handled_once():
    ada = UserFactory(email="ada@example.com")
    notify([ada], "hello")
    outbox_relay()
    OutboxMessage.objects.update(sent_at=None)  # as if the relay died before marking it

    assert outbox_relay().sent == 1
    assert len(mail.outbox) == 1  # the handler claims its row: the second delivery mails nobody


def test_a_failed_send_waits_with_a_delay_and_keeps_the_order_behind_it():
    outbox_enqueue([Job("no.such.task"), Job("allot.ping")])

    result = outbox_relay()

    assert (result.sent, result.failed) == (0, 1)
    failed, behind = OutboxMessage.objects.order_by("pk")
    assert failed.attempts == 1 and "no.such.task" in failed.last_error
    assert failed.available_at > timezone.now()
    assert behind.sent_at is None  # not sent ahead of the one that failed


def test_work_with_a_coalesce_key_waits_once_and_can_be_queued_again_once_sent():
    jobs = [Job("allot.ping", coalesce_key="ping:1"), Job("allot.ping", coalesce_key="ping:1")]
    outbox_enqueue(jobs)
    outbox_enqueue([Job("allot.ping", coalesce_key="ping:1")])
    assert OutboxMessage.objects.count() == 1

    outbox_relay()
    outbox_enqueue([Job("allot.ping", coalesce_key="ping:1")])

    assert OutboxMessage.objects.filter(sent_at__isnull=True).count() == 1
    assert OutboxMessage.objects.count() == 2


def test_the_relay_task_records_its_heartbeat_and_old_sent_messages_are_pruned():
    assert worker_beat_age() is None
    outbox_enqueue([Job("allot.ping")])

    assert relay.delay().get() == 1

    assert worker_beat_age() < 5
    OutboxMessage.objects.update(sent_at=timezone.now() - timezone.timedelta(days=8))
    assert outbox_prune() == 1
