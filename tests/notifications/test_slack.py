"""Slack (issue 19, item 4) with the official slack-sdk against a local server on 127.0.0.1
that answers in the shapes Slack documents, and stops by itself:
- users.lookupByEmail: https://api.slack.com/methods/users.lookupByEmail
- users.info: https://api.slack.com/methods/users.info
- chat.postMessage: https://api.slack.com/methods/chat.postMessage
- the interactivity payload (block_actions, with response_url):
  https://api.slack.com/reference/interaction-payloads/block-actions and
  https://api.slack.com/interactivity/handling#message_responses
- request signatures (v0, HMAC-SHA256 of "v0:<timestamp>:<body>"):
  https://api.slack.com/authentication/verifying-requests-from-slack
"""

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from slack_sdk.signature import SignatureVerifier

from approvals.models import RequestKind, RequestState
from approvals.services import request_submit
from budgets.models import EntryKind, LedgerEntry
from notifications.kinds import Kind
from notifications.models import SlackSettings
from notifications.services import notify
from tests.factories import EmployeeFactory, UserFactory

pytestmark = pytest.mark.django_db
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_USERS = {"manager@example.com": "U0MANAGER", "eng@example.com": "U0ENGINEER"}


class FakeSlack:
    """Slack's Web API methods the app calls, and a response_url, recording what it was sent."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, payload: dict):
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _params(self) -> dict:
                url = urllib.parse.urlparse(self.path)
                params = dict(urllib.parse.parse_qsl(url.query))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                if raw and "json" in (self.headers.get("Content-Type") or ""):
                    params |= json.loads(raw)
                elif raw:
                    params |= dict(urllib.parse.parse_qsl(raw))
                return params

            def do_GET(self):
                self.do_POST()

            def do_POST(self):
                method = urllib.parse.urlparse(self.path).path.rsplit("/", 1)[-1]
                params = self._params()
                fake.calls.append((method, params))
                by_id = {v: k for k, v in SLACK_USERS.items()}
                if method == "users.lookupByEmail":
                    user = SLACK_USERS.get(params.get("email"))
                    if user is None:
                        return self._reply({"ok": False, "error": "users_not_found"})
                    email = params["email"]
                    return self._reply(
                        {"ok": True, "user": {"id": user, "profile": {"email": email}}}
                    )
                if method == "users.info":
                    email = by_id.get(params.get("user"))
                    return self._reply(
                        {
                            "ok": True,
                            "user": {"id": params.get("user"), "profile": {"email": email}},
                        }
                    )
                if method == "chat.postMessage":
                    return self._reply(
                        {
                            "ok": True,
                            "channel": params.get("channel"),
                            "ts": "1503435956.000247",
                            "message": {"text": params.get("text"), "type": "message"},
                        }
                    )
                if method == "respond":  # a response_url answers "ok" in text
                    body = b"ok"
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(body)
                    return None
                return self._reply({"ok": False, "error": "unknown_method"})

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def posted(self) -> list[dict]:
        return [params for method, params in self.calls if method == "chat.postMessage"]

    def answers(self) -> list[str]:
        return [params.get("text") for method, params in self.calls if method == "respond"]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack(settings):
    fake = FakeSlack()
    settings.ALLOT_SLACK_API_URL = fake.url + "/api/"
    SlackSettings.objects.create(bot_token="xoxb-test", signing_secret=SIGNING_SECRET)
    yield fake
    fake.stop()


def signed_post(client, payload: dict, *, secret=SIGNING_SECRET, age=0):
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    timestamp = str(int(time.time()) - age)
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return client.post(
        "/slack/interactivity/",
        body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=timestamp,
        HTTP_X_SLACK_SIGNATURE=signature,
    )


def press(slack, button: dict, user: str) -> dict:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "someone"},
        "response_url": slack.url + "/actions/respond",
        "actions": [{"action_id": button["action_id"], "value": button["value"], "type": "button"}],
    }


def test_the_approve_button_decides_once_and_a_bad_signature_is_refused(
    slack, client, django_capture_on_commit_callbacks
):
    manager = EmployeeFactory(user__email="manager@example.com")
    engineer = EmployeeFactory(user__email="eng@example.com", manager=manager)
    with django_capture_on_commit_callbacks(execute=True):
        request = request_submit(
            kind=RequestKind.INCREASE,
            requester=engineer.user,
            employee=engineer,
            amount_micros=5_000 * 10**6,
            reason="agents",
        )
    (dm,) = slack.posted()
    assert dm["channel"] == "U0MANAGER"
    assert dm["text"] == f"Allot: {request} waits for your decision"
    blocks = dm["blocks"] if isinstance(dm["blocks"], list) else json.loads(dm["blocks"])
    approve, reject = blocks[-1]["elements"]
    assert approve["action_id"] == "allot_approve" and reject["url"].startswith("http")
    assert "/approvals/decide/" in reject["url"]

    forged = signed_post(client, press(slack, approve, "U0MANAGER"), secret="not-the-secret")
    assert forged.status_code == 401
    stale = signed_post(client, press(slack, approve, "U0MANAGER"), age=600)
    assert stale.status_code == 401  # older than five minutes: a replay
    assert LedgerEntry.objects.filter(kind=EntryKind.APPROVED_INCREASE).count() == 0

    # the requester pressing a forwarded button decides nothing
    assert signed_post(client, press(slack, approve, "U0ENGINEER")).status_code == 200
    assert slack.answers()[-1] == "This button is for someone else. Nothing was decided."
    request.refresh_from_db()
    assert request.state == RequestState.IN_REVIEW

    with django_capture_on_commit_callbacks(execute=True):
        assert signed_post(client, press(slack, approve, "U0MANAGER")).status_code == 200
    assert slack.answers()[-1] == f"You approved step 1 of {request}."
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    assert LedgerEntry.objects.filter(kind=EntryKind.APPROVED_INCREASE).count() == 1

    assert signed_post(client, press(slack, approve, "U0MANAGER")).status_code == 200
    assert "already approved" in slack.answers()[-1]
    assert LedgerEntry.objects.filter(kind=EntryKind.APPROVED_INCREASE).count() == 1


def test_finances_kinds_also_go_to_the_team_channel_and_unknown_people_are_skipped(
    slack, django_capture_on_commit_callbacks
):
    SlackSettings.objects.update(team_channel="C0FINANCE")
    finance = UserFactory(email="manager@example.com")  # a Slack user of the fake
    stranger = UserFactory(email="nobody@example.com")  # Slack does not know them
    with django_capture_on_commit_callbacks(execute=True):
        notify(
            [finance, stranger],
            "Anthropic: on 2026-11-01 Allot recorded $14.70 against the provider's $15.00",
            kind=Kind.RECONCILIATION,
            subject="Allot: Anthropic differs from recorded usage on 2026-11-01",
            link="/admin/connectors/providercostday/1/change/",
        )
    channels = [p["channel"] for p in slack.posted()]
    assert sorted(channels) == ["C0FINANCE", "U0MANAGER"]
    (dm,) = [p for p in slack.posted() if p["channel"] == "U0MANAGER"]
    blocks = dm["blocks"] if isinstance(dm["blocks"], list) else json.loads(dm["blocks"])
    assert "/admin/connectors/providercostday/1/change/|Open in Allot>" in json.dumps(blocks)
