"""Messages by kind (issue 19, items 1 and 2): each kind's subject and the link to the page
where it is acted on, from ALLOT_BASE_URL; a decision taken marks its messages done (dashboard
included); one event past four thresholds sends one message; thresholds passed on import are
recorded without a message and shown; the daily digest."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from approvals.delegation_services import delegation_create
from approvals.models import RequestKind
from approvals.services import request_decide, request_submit
from budgets.alerts import budget_alerts_check, budget_alerts_record
from budgets.models import AlertClaim, AlertDelivery
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_ingest
from notifications.models import Notification
from notifications.services import notification_preference_set, notify
from notifications.tasks import notifications_digest_send, notifications_resend
from people.selectors import company_today, current_fiscal_year
from tests.factories import EmployeeFactory

pytestmark = pytest.mark.django_db
K = 10**6
BASE = "http://allot.example.test:8123"


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.ALLOT_BASE_URL = BASE + "/"  # a trailing slash makes no double slash


@pytest.fixture
def org():
    standin = EmployeeFactory(user__email="standin@example.com")  # the manager's manager
    manager = EmployeeFactory(user__email="manager@example.com", manager=standin)
    engineer = EmployeeFactory(user__email="eng@example.com", manager=manager)
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=engineer)
    budget_allocate(budget=budget, amount_micros=100 * K, acting_user=None)
    return {"manager": manager, "engineer": engineer, "standin": standin, "budget": budget}


def spend(dollars: str, event_id: str, **extra):
    return usage_ingest(
        events=[
            {
                "id": event_id,
                "employee": "eng@example.com",
                "model": "m",
                "input_tokens": 1,
                "output_tokens": 1,
                "cost_usd": dollars,
                "occurred_at": timezone.now().isoformat(),
            }
        ],
        **extra,
    )


def mails_to(email: str) -> list:
    return [m for m in mail.outbox if m.to == [email]]


def test_one_event_past_four_thresholds_sends_one_message_for_the_highest(
    org, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        spend("94", "a")  # 94 %: 50, 80 and 90 in one event: one message, for 90
    assert [m.subject for m in mails_to("eng@example.com") if "used" in m.subject] == [
        f"Allot: Personal: {org['engineer']} has used 90% of its budget"
    ]
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        spend("7", "b")  # to 101 %: the 100 % alert only
    (eng,) = mails_to("eng@example.com")
    (boss,) = mails_to("manager@example.com")
    assert (
        eng.subject
        == boss.subject
        == (f"Allot: Personal: {org['engineer']} has used 100% of its budget")
    )
    assert f"{BASE}/requests/" in eng.body  # where more is asked for
    assert f"{BASE}/team/{org['engineer'].pk}/" in boss.body  # the manager's view of them
    assert "//requests" not in eng.body

    claims = dict(
        org["budget"].alerts.filter(kind="threshold").values_list("threshold", "delivery")
    )
    assert claims == {
        50: AlertDelivery.COVERED,
        80: AlertDelivery.COVERED,
        90: AlertDelivery.SENT,
        100: AlertDelivery.SENT,
    }


def test_an_event_from_0_past_100_percent_sends_one_message_each(
    org, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        spend("120", "big")  # past 50, 80, 90 and 100 at once
    threshold_mails = [m for m in mail.outbox if "% of its budget" in m.subject]
    assert sorted(m.to[0] for m in threshold_mails) == ["eng@example.com", "manager@example.com"]
    assert {m.subject for m in threshold_mails} == {
        f"Allot: Personal: {org['engineer']} has used 100% of its budget"
    }
    assert Notification.objects.filter(kind="threshold").count() == 2


def test_thresholds_passed_on_import_are_recorded_without_mail_and_shown(
    org, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        spend("96", "old", quiet_alerts=True)  # a back-fill (import_usage)
    assert not [m for m in mail.outbox if "% of its budget" in m.subject]
    assert set(org["budget"].alerts.values_list("threshold", "delivery")) == {
        (50, AlertDelivery.BASELINE),
        (80, AlertDelivery.BASELINE),
        (90, AlertDelivery.BASELINE),
    }
    assert budget_alerts_record(budget_ids=[org["budget"].pk]) == 0  # recorded once
    client.force_login(org["engineer"].user)
    page = client.get("/").content.decode()
    assert "Alerts reached" in page
    assert "90 % (already passed when created or imported; nobody emailed)" in page
    # what comes next is told as usual
    with django_capture_on_commit_callbacks(execute=True):
        spend("5", "new")
    assert [m.subject for m in mails_to("eng@example.com")] == [
        f"Allot: Personal: {org['engineer']} has used 100% of its budget"
    ]


def test_the_projection_has_its_own_subject(org, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        spend("80", "burn")  # $80 in 30 days' rate: the $20 left lasts about a week
        budget_alerts_check(budget=org["budget"])
    (note,) = Notification.objects.filter(kind="projected")
    assert note.subject.startswith(f"Allot: Personal: {org['engineer']} is projected to run out")
    assert note.link == "/requests/"


def test_a_waiting_request_links_to_itself_and_is_done_once_decided(
    org, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request = request_submit(
            kind=RequestKind.INCREASE,
            requester=org["engineer"].user,
            employee=org["engineer"],
            amount_micros=5_000 * K,
            reason="more agents",
        )
    (asked,) = mails_to("manager@example.com")
    assert asked.subject == f"Allot: {request} waits for your decision"
    assert f"Open the request to decide: {BASE}/requests/{request.pk}/" in asked.body
    assert f"{BASE}/approvals/decide/" in asked.body
    assert "127.0.0.1:8000" not in asked.body

    manager = org["manager"].user
    client.force_login(manager)
    page = client.get("/").content.decode()
    assert f"{request} waits for you." in page and "<strong>Done</strong>" not in page

    with django_capture_on_commit_callbacks(execute=True):
        request_decide(request=request, user=manager, approve=True, comment="ok")
    page = client.get("/").content.decode()
    assert f"<s>{request} waits for you.</s> <strong>Done</strong>: approved by" in page
    (told,) = mails_to("eng@example.com")
    assert told.subject == f"Allot: {request} was approved"
    assert f"See the request: {BASE}/requests/{request.pk}/" in told.body


def test_a_stand_in_is_told_when_a_delegation_is_made(org, django_capture_on_commit_callbacks):
    starts = company_today() + timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        delegation_create(
            delegator=org["manager"].user,
            delegate_email="standin@example.com",
            starts_on=starts,
            ends_on=starts + timedelta(days=4),
            reason="holiday",
        )
    (told,) = mails_to("standin@example.com")
    assert told.subject == f"Allot: you stand in for {org['manager'].user} from {starts:%b %-d}"
    assert "(holiday)" in told.body
    assert f"See what waits for you: {BASE}/approvals/" in told.body


def test_the_daily_digest_sends_one_email_without_what_is_done(
    org, django_capture_on_commit_callbacks
):
    ada = org["engineer"].user
    notification_preference_set(user=ada, daily_digest=True)
    with django_capture_on_commit_callbacks(execute=True):
        notify([ada], "first", link="/requests/")
        notify([ada], "second, answered since", target="x:1")
        notify([ada], "third")
    assert not mail.outbox  # none one by one
    Notification.objects.filter(target="x:1").update(done_at=timezone.now())
    Notification.objects.update(created_at=timezone.now() - timedelta(hours=2))
    assert notifications_resend() == 0  # the hourly sweep leaves them to the digest

    assert notifications_digest_send() == 1
    (digest,) = mail.outbox
    assert digest.subject == "Allot: your daily digest (2 new)"
    assert "first" in digest.body and "third" in digest.body
    assert "answered since" not in digest.body
    assert f"{BASE}/requests/" in digest.body
    assert notifications_digest_send() == 0  # never twice
    assert not Notification.objects.filter(emailed_at__isnull=True).exists()


def test_the_dashboard_switches_the_digest_for_oneself_only(org, client):
    client.force_login(org["engineer"].user)
    assert "One digest a day instead" in client.get("/").content.decode()
    assert client.post("/notifications/digest/", {"daily_digest": "on"}).status_code == 302
    assert "You get one email a day" in client.get("/").content.decode()
    bad = client.post("/notifications/digest/", {"daily_digest": "yes"})
    assert bad.status_code == 400 and b"daily_digest" in bad.content
    assert not AlertClaim.objects.exists()
