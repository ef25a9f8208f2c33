"""Outbound webhooks (issue 19, item 5) against a receiver on 127.0.0.1 that stops by itself:
signed like Stripe's and GitHub's (HMAC-SHA256 of "<timestamp>.<body>" in Allot-Signature), a
receiver that fails twice then succeeds gets the event once, every try logged with its answer."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.admin.sites import site
from django.test import RequestFactory

from approvals.models import RequestKind
from approvals.services import request_decide, request_submit
from notifications.models import DeliveryState, WebhookDelivery, WebhookEndpoint, WebhookEvent
from notifications.webhooks import BACKOFF, signature, webhook_attempt, webhook_publish
from tests.factories import EmployeeFactory, UserFactory

pytestmark = pytest.mark.django_db
SECRET = "whsec_test_0123456789"


class Receiver:
    """Answers the statuses queued in `answers` (then 200), recording each request; drops an
    event id it has already accepted, as a receiver should."""

    def __init__(self, answers: list[int]):
        self.answers, self.requests, self.accepted = list(answers), [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                if status == 200 and receiver.verified(self.headers, body):
                    event_id = json.loads(body)["id"]
                    if event_id not in receiver.accepted:
                        receiver.accepted.append(event_id)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @staticmethod
    def verified(headers, body: bytes) -> bool:
        parts = dict(p.split("=", 1) for p in headers["Allot-Signature"].split(","))
        expected = hmac.new(
            SECRET.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, parts["v1"])

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def endpoint(url: str, events=None) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(url=url, secret=SECRET, events=events or [])


def test_a_receiver_failing_twice_then_succeeding_gets_the_event_once_signed(
    django_capture_on_commit_callbacks,
):
    manager = EmployeeFactory(user__email="manager@example.com")
    engineer = EmployeeFactory(user__email="eng@example.com", manager=manager)
    with Receiver([500, 503]) as receiver:
        hook = endpoint(receiver.url, events=["request.decided"])
        endpoint(receiver.url + "/budgets", events=["budget.threshold"])  # wants another type
        request = request_submit(
            kind=RequestKind.INCREASE,
            requester=engineer.user,
            employee=engineer,
            amount_micros=5_000 * 10**6,
            reason="more agents",
        )
        with django_capture_on_commit_callbacks(execute=True):
            request_decide(request=request, user=manager.user, approve=True, comment="ok")

    assert len(receiver.requests) == 3  # two failures, then the success; eager: no waits
    ids = {headers["Allot-Event-Id"] for headers, _ in receiver.requests}
    assert len(ids) == 1 and receiver.accepted == list(ids)
    assert all(receiver.verified(headers, body) for headers, body in receiver.requests)
    payload = json.loads(receiver.requests[-1][1])
    assert payload["type"] == "request.decided"
    assert payload["data"]["request_id"] == request.pk and payload["data"]["outcome"] == "approved"

    (delivery,) = WebhookDelivery.objects.filter(endpoint=hook)
    assert delivery.state == DeliveryState.DELIVERED
    assert (delivery.attempts, delivery.response_code) == (3, 200)
    assert not WebhookDelivery.objects.exclude(endpoint=hook).exists()
    assert webhook_attempt(delivery.pk) is None  # a duplicate task sends nothing more
    assert WebhookDelivery.objects.get(pk=delivery.pk).attempts == 3


def test_a_failing_try_waits_with_backoff_and_a_day_of_failures_gives_up():
    with Receiver([500] * 20) as receiver:
        hook = endpoint(receiver.url)
        event = webhook_publish("ping", {"n": 1})  # not committed: no try queued
        delivery = WebhookDelivery.objects.get(endpoint=hook, event=event)
        waits = [webhook_attempt(delivery.pk) for _ in range(len(BACKOFF) + 1)]
    assert waits == [*BACKOFF, None]
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED
    assert delivery.response_code == 500 and delivery.error == "answered 500"
    assert sum(BACKOFF) >= 20 * 3600  # tried for about a day
    assert len(receiver.requests) == len(BACKOFF) + 1


def test_the_signature_is_stripes_scheme_over_timestamp_and_body():
    body = b'{"id":"evt_1"}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("s3cret", 1700000000, body) == f"t=1700000000,v1={expected}"


def test_the_admins_send_test_button_pings_the_chosen_endpoint(
    django_capture_on_commit_callbacks,
):
    root = UserFactory(is_staff=True, is_superuser=True)
    with Receiver([]) as receiver:
        hook = endpoint(receiver.url, events=["request.decided"])
        admin = site._registry[WebhookEndpoint]
        request = RequestFactory().post("/admin/notifications/webhookendpoint/")
        request.user = root
        request._messages = type("M", (), {"add": lambda *a, **k: None})()
        with django_capture_on_commit_callbacks(execute=True):
            admin.send_test(request, WebhookEndpoint.objects.filter(pk=hook.pk))
    (event,) = WebhookEvent.objects.filter(type="ping")
    assert [json.loads(body)["id"] for _, body in receiver.requests] == [event.id]
    assert WebhookDelivery.objects.get(event=event).state == DeliveryState.DELIVERED
