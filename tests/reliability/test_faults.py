"""Faults injected for real on PostgreSQL and a Redis broker of the test's own: what a gateway
sees (JSON, a 503 with Retry-After within the bound, never an HTML 500), that nothing is lost or
doubled, that totals equal entries, and that queued follow-ups arrive once when the broker is
back. Bounded: every wait here is a few seconds at most."""

import json
import time

import pytest
import redis
from celery import current_app
from django.core import mail
from django.db import connection
from django.utils import timezone

from budgets.models import AlertClaim, Budget, UsageEvent
from notifications.models import Notification
from outbox.models import OutboxMessage
from outbox.services import outbox_relay
from tests.reliability.conftest import assert_totals_equal_entries, needs_postgresql

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.integration,
    needs_postgresql,
]
URL = "/api/v1/usage/"


@pytest.fixture
def gateway(client, gateway_key):
    client.raise_request_exception = False  # answer as the server does

    def post(events):
        started = time.monotonic()
        response = client.post(
            URL,
            json.dumps({"events": events}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {gateway_key}",
        )
        return response, time.monotonic() - started

    return post


def test_a_connection_cut_mid_batch_is_a_json_503_and_the_retry_makes_it_whole(
    gateway, engineer_budget, usage_events
):
    # given the database cutting the app's session in the middle of writing the batch
    table = UsageEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION allot_cut_session() RETURNS trigger AS $$ BEGIN "
            "PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            f"CREATE TRIGGER allot_cut_session BEFORE INSERT ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION allot_cut_session()"
        )
    events = usage_events(50)

    cut, cut_seconds = gateway(events)

    # then the gateway is told to retry, in JSON, and nothing of the batch was kept
    assert cut.status_code == 503, cut.content[:200]
    assert cut["Content-Type"] == "application/json"
    assert cut["Retry-After"] == "5"
    assert cut.json()["code"] == "unavailable"
    assert cut_seconds < 5
    assert UsageEvent.objects.count() == 0
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER allot_cut_session ON {table}")
        cursor.execute("DROP FUNCTION allot_cut_session()")

    # when it retries the same batch on a healthy connection
    retried, _ = gateway(events)
    again, _ = gateway(events)

    assert retried.status_code == 200
    assert retried.json()["accepted"] == 50
    assert again.json() == {"accepted": 0, "duplicates": 50, "rejected": []}
    assert UsageEvent.objects.count() == 50
    assert_totals_equal_entries()
    print(f"\nconnection cut mid-batch: 503 in {cut_seconds * 1000:.0f} ms")  # noqa: T201


def work_the_queue(url: str) -> list[str]:
    """What a worker does: take each queued task off the broker and run it. Returns the names."""
    ran = []
    with current_app.connection_for_read(url) as conn:
        queue = conn.SimpleQueue("celery")
        while True:
            try:
                message = queue.get(timeout=0.5)
            except queue.Empty:
                break
            args, kwargs, _ = message.decode()
            name = message.headers["task"]
            current_app.tasks[name].apply(args=args, kwargs=kwargs)
            message.ack()
            ran.append(name)
        queue.close()
    return ran


def expensive_events(count: int, usage_events) -> list[dict]:
    return [{**event, "cost_usd": "300"} for event in usage_events(count)]


def test_a_paused_broker_costs_a_request_nothing_and_its_follow_ups_arrive_once(
    gateway, engineer_budget, usage_events, redis_server, real_broker
):
    broker = redis.Redis.from_url(redis_server)
    broker.execute_command("CLIENT", "PAUSE", 3000, "ALL")

    # when a batch that crosses the alert thresholds comes in while the broker is paused
    response, seconds = gateway(expensive_events(3, usage_events))

    # then the request did not wait for the broker
    assert response.status_code == 200
    assert seconds < 1.5
    waiting = OutboxMessage.objects.filter(sent_at__isnull=True)
    assert list(waiting.values_list("task", flat=True)) == ["budgets.alerts_check"]
    assert not AlertClaim.objects.exists()  # not yet: the check waits in the outbox
    time.sleep(3.1)  # the pause ends

    # when the relay runs and a worker takes the work (then the emails the alerts queued)
    relayed = outbox_relay()
    ran = work_the_queue(redis_server)
    outbox_relay()
    ran += work_the_queue(redis_server)

    # then each follow-up ran once: the alerts fired, their emails went, once each
    assert relayed.sent == 1
    assert ran.count("budgets.alerts_check") == 1
    fired = AlertClaim.objects.count()
    assert fired >= 1
    assert Notification.objects.filter(emailed_at__isnull=True).count() == 0
    assert len(mail.outbox) == Notification.objects.count()
    assert outbox_relay().sent == 0
    assert work_the_queue(redis_server) == []
    print(f"\nbroker paused: usage answered in {seconds * 1000:.0f} ms")  # noqa: T201


def test_a_broker_down_for_an_hour_loses_nothing_and_sends_each_follow_up_once(
    gateway, engineer_budget, usage_events, redis_server, real_broker
):
    real_broker("redis://127.0.0.1:1/0")  # nothing listens there: the broker is down

    responses = [gateway(expensive_events(2, usage_events))[0]]
    responses.append(gateway([{**e, "id": f"late-{n}"} for n, e in enumerate(usage_events(2))])[0])
    started = time.monotonic()
    down = outbox_relay()
    failed_in = time.monotonic() - started

    assert all(r.status_code == 200 for r in responses)
    assert (down.sent, down.failed) == (0, 1)
    print(f"\nbroker down: the relay gave up in {failed_in:.1f} s")  # noqa: T201
    assert failed_in < 15  # the relay (in a worker) gives up on a refused broker, no request waits
    message = OutboxMessage.objects.get(sent_at__isnull=True)  # coalesced: one check per budget
    assert message.attempts == 1 and message.last_error

    # an hour later the broker is back and the relay's delay has passed
    real_broker(redis_server)
    OutboxMessage.objects.update(available_at=timezone.now())
    up = outbox_relay()
    ran = work_the_queue(redis_server)
    outbox_relay()
    ran += work_the_queue(redis_server)

    assert up.sent == 1
    assert ran.count("budgets.alerts_check") == 1
    assert AlertClaim.objects.exists()
    assert len(mail.outbox) == Notification.objects.count() > 0
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()


def test_authorize_on_a_cut_session_is_a_json_503_and_its_retry_holds_once(
    client, gateway_key, engineer_budget, other_session
):
    client.raise_request_exception = False

    def authorize():
        body = {
            "employee": "eng@example.com",
            "estimated_cost_usd": "5",
            "reserve": True,
            "request_id": "call-1",
        }
        return client.post(
            "/api/v1/authorize/",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {gateway_key}",
        )

    connection.ensure_connection()
    other_session.execute(
        "SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid]
    )
    other_session.commit()

    cut = authorize()
    first, retry = authorize(), authorize()

    assert cut.status_code == 503, cut.content[:200]
    assert cut["Content-Type"] == "application/json" and cut["Retry-After"] == "5"
    assert (first.status_code, retry.status_code) == (200, 200)
    assert first.json()["reservation"] == retry.json()["reservation"]  # the same hold, once
    budget = Budget.objects.get(pk=engineer_budget.pk)
    assert budget.reserved_micros == 5 * 10**6
