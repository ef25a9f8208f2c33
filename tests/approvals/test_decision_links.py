"""One-click decisions from the email (issue 19, item 3): the link in the captured email opens a
confirmation page; GET changes nothing, POST decides once; a used, stale, expired, forged or
someone else's link says so and does nothing."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from approvals.models import RequestKind, RequestState, StepState
from approvals.oneclick import decision_token
from approvals.services import request_submit
from budgets.models import EntryKind, LedgerEntry
from notifications.models import Notification
from tests.factories import EmployeeFactory

pytestmark = pytest.mark.django_db
K = 10**6
LINK = re.compile(r"http://allot\.example\.test:8123(/approvals/decide/[^/\s]+/)")


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.ALLOT_BASE_URL = "http://allot.example.test:8123"


@pytest.fixture
def chain():
    manager = EmployeeFactory(user__email="manager@example.com", user__first_name="Mia")
    engineer = EmployeeFactory(user__email="eng@example.com", manager=manager)
    return {"manager": manager, "engineer": engineer}


def submit(chain, dollars=5_000):
    return request_submit(
        kind=RequestKind.INCREASE,
        requester=chain["engineer"].user,
        employee=chain["engineer"],
        amount_micros=dollars * K,
        reason="agents for the migration",
    )


def emailed_link(to: str) -> str:
    (message,) = [m for m in mail.outbox if m.to == [to] and "waits" in m.subject]
    found = LINK.findall(message.body)
    assert len(found) == 1, message.body
    return found[0]


def increases() -> int:
    return LedgerEntry.objects.filter(kind=EntryKind.APPROVED_INCREASE).count()


def test_the_email_link_confirms_on_post_and_the_ledger_moves_once(
    chain, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(chain)
    link = emailed_link("manager@example.com")

    page = client.get(link)  # what a mail scanner does, too
    text = page.content.decode()
    assert page.status_code == 200
    assert "Budget increase of $5,000.00" in text
    assert "agents for the migration" in text
    assert "Confirm your decision, Mia" in text
    assert "Nothing happens until you press a button" in text
    assert page["Referrer-Policy"] == "same-origin"
    assert "no-store" in page["Cache-Control"]
    request.refresh_from_db()
    assert request.state == RequestState.IN_REVIEW and increases() == 0

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(link, {"decision": "approve"})
    assert done.status_code == 200
    assert "You approved step 1 of Budget increase" in done.content.decode()
    assert "Approved</span>" in done.content.decode()  # the request as it is now
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    assert request.steps.get(index=0).decided_by == chain["manager"].user
    assert increases() == 1

    again = client.post(link, {"decision": "approve"})
    assert again.status_code == 409
    assert "already approved by Mia" in again.content.decode()
    assert "Nothing was decided" in again.content.decode()
    assert increases() == 1
    # the message that asked is done on the dashboard
    asked = Notification.objects.get(user=chain["manager"].user, kind="request_waiting")
    assert asked.done_at is not None


def test_a_scanner_following_every_link_with_get_decides_nothing(
    chain, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(chain)
    link = emailed_link("manager@example.com")
    for _ in range(3):
        assert client.get(link).status_code == 200
        assert client.head(link).status_code in (200, 405)
    request.refresh_from_db()
    assert request.state == RequestState.IN_REVIEW
    assert request.steps.get(index=0).state == StepState.PENDING


def test_a_link_after_the_request_changed_says_so_and_does_nothing(
    chain, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(chain)
    link = emailed_link("manager@example.com")
    request.amount_micros = 9_000 * K  # edited after the email went
    request.save(update_fields=["amount_micros"])
    for method in (client.get, lambda url: client.post(url, {"decision": "approve"})):
        page = method(link)
        assert page.status_code == 409
        assert "changed since the message was sent" in page.content.decode()
    request.refresh_from_db()
    assert request.state == RequestState.IN_REVIEW and increases() == 0


def test_a_withdrawn_request_expired_forged_or_someone_elses_link_does_nothing(
    chain, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(chain)
    link = emailed_link("manager@example.com")

    forged = link[:-3] + "xx/"
    assert client.post(forged, {"decision": "approve"}).status_code == 400

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        late = client.post(link, {"decision": "approve"})
    assert late.status_code == 410 and "expired" in late.content.decode()

    client.force_login(chain["engineer"].user)  # the requester holding the manager's link
    theirs = client.post(link, {"decision": "approve"})
    assert theirs.status_code == 403 and "This link was sent to" in theirs.content.decode()
    client.logout()

    rejected = client.post(link, {"decision": "reject", "comment": " "})
    assert rejected.status_code == 400 and "comment: Say why" in rejected.content.decode()
    assert client.post(link, {"decision": "maybe"}).status_code == 400

    request.refresh_from_db()
    assert request.state == RequestState.IN_REVIEW and increases() == 0

    # a link for the requester themselves is never usable: nobody approves their own request
    own = f"/approvals/decide/{decision_token(request.steps.get(index=0), chain['engineer'].user)}/"
    assert client.get(own).status_code == 403
    assert client.post(own, {"decision": "approve"}).status_code == 403
    assert increases() == 0


def test_a_rejection_through_the_link_tells_the_requester_with_the_comment(
    chain, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(chain)
    link = emailed_link("manager@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(link, {"decision": "reject", "comment": "not this quarter"})
    assert page.status_code == 200 and "You rejected step 1" in page.content.decode()
    request.refresh_from_db()
    assert request.state == RequestState.REJECTED
    (told,) = [m for m in mail.outbox if m.to == ["eng@example.com"]]
    assert told.subject == f"Allot: {request} was rejected"
    assert "not this quarter" in told.body
    assert f"http://allot.example.test:8123/requests/{request.pk}/" in told.body
