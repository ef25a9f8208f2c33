from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from budgets.alerts import budget_alerts_check
from budgets.models import AlertClaim, AlertKind, Budget
from budgets.services import budget_allocate, budget_create
from budgets.tasks import alerts_check
from budgets.usage import usage_ingest
from notifications.models import Notification
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def engineer():
    manager = EmployeeFactory(user__email="manager@example.com")
    engineer = EmployeeFactory(user__email="eng@example.com", manager=manager)
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=engineer)
    budget_allocate(budget=budget, amount_micros=100 * 10**6, acting_user=None)
    return engineer, budget


def spend(dollars: str, event_id: str):
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
        ]
    )


def test_thresholds_fire_once_each_by_email_and_in_the_app(
    engineer, django_capture_on_commit_callbacks
):
    _, budget = engineer
    with django_capture_on_commit_callbacks(execute=True):
        spend("55", "a")  # 55 %: the 50 % alert
    with django_capture_on_commit_callbacks(execute=True):
        spend("30", "b")  # 85 %: the 80 % alert

    fired = sorted(
        budget.alerts.filter(kind=AlertKind.THRESHOLD).values_list("threshold", flat=True)
    )
    assert fired == [50, 80]
    threshold_notes = Notification.objects.filter(
        user__email="eng@example.com", alert__kind=AlertKind.THRESHOLD
    )
    assert threshold_notes.count() == 2
    assert any("used 80%" in m.body for m in mail.outbox)
    sent = len(mail.outbox)  # the thresholds, and the projection ($85 in a day burns fast)

    # running the check again, as a duplicate task would, fires nothing more
    assert budget_alerts_check(budget=budget) == []
    assert alerts_check(budget_ids=[budget.pk]) == 0
    assert len(mail.outbox) == sent


def test_past_100_percent_the_manager_is_told_too(engineer, django_capture_on_commit_callbacks):
    _, budget = engineer
    with django_capture_on_commit_callbacks(execute=True):
        spend("120", "over")
    alert = AlertClaim.objects.get(budget=budget, threshold=100)
    told = set(alert.notifications.values_list("user__email", flat=True))
    assert told == {"eng@example.com", "manager@example.com"}
    assert {m.to[0] for m in mail.outbox} >= {"eng@example.com", "manager@example.com"}


def test_the_manager_is_told_past_100_percent_whatever_thresholds_the_budget_lists(
    engineer, django_capture_on_commit_callbacks
):
    _, budget = engineer
    Budget.objects.filter(pk=budget.pk).update(alert_thresholds=[50, 80])
    with django_capture_on_commit_callbacks(execute=True):
        spend("120", "over")
    assert set(AlertClaim.objects.filter(budget=budget).values_list("threshold", flat=True)) == {
        50,
        80,
        100,
    }
    alert = AlertClaim.objects.get(budget=budget, threshold=100)
    told = set(alert.notifications.values_list("user__email", flat=True))
    assert told == {"eng@example.com", "manager@example.com"}


def test_a_budget_burning_too_fast_gets_a_projection_alert(engineer):
    _, budget = engineer
    today = timezone.localdate()
    usage_ingest(
        events=[
            {
                "id": f"d{n}",
                "employee": "eng@example.com",
                "model": "m",
                "input_tokens": 1,
                "output_tokens": 1,
                "cost_usd": "1.5",
                "occurred_at": (timezone.now() - timedelta(days=n)).isoformat(),
            }
            for n in range(20)
        ]
    )  # $30 in 20 days: $1/day over 30 days; $70 left runs out in 70 days
    fired = budget_alerts_check(budget=budget, today=today)
    projected = [a for a in fired if a.kind == AlertKind.PROJECTED]
    period_end = today.replace(month=12, day=31)
    if today + timedelta(days=70) < period_end:
        assert projected and "projected to run out" in projected[0].message
    assert budget_alerts_check(budget=budget, today=today) == []


def test_a_failed_email_is_retried_and_never_sent_twice(engineer, settings, monkeypatch):
    from notifications import tasks

    _, budget = engineer
    spend("55", "a")
    budget_alerts_check(budget=budget)  # the email task is queued on commit, which never comes
    note = Notification.objects.get(alert__threshold=50)
    calls = {"n": 0}
    real_send = tasks.send_mail

    def flaky_send(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("SMTP down")
        return real_send(*args, **kwargs)

    monkeypatch.setattr(tasks, "send_mail", flaky_send)
    with pytest.raises(OSError):
        tasks.notification_email_send.run(note.pk)
    note.refresh_from_db()
    assert note.emailed_at is None  # the failed attempt claimed nothing
    assert tasks.notification_email_send.run(note.pk) is True
    assert tasks.notification_email_send.run(note.pk) is False  # a duplicate run sends nothing
    assert len(mail.outbox) == 1
