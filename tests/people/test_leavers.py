"""A leaver is closed in one transaction: deactivated (authorize refuses them at once), their
holds released and their open budgets' unused money forfeited, the rollover's rule for leavers
applied on the day they leave. From the admin (unticking "active", or the list action) and from
the nightly job for a last day entered ahead of time."""

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from budgets.authorize import authorize
from budgets.models import (
    Budget,
    Enforcement,
    EntryKind,
    LedgerEntry,
    Reservation,
    ReservationState,
)
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_ingest
from common.errors import AllotError
from people import services
from people.models import Employee
from people.selectors import company_today, current_fiscal_year
from people.services import employee_deactivate, leavers_due_close
from people.tasks import leavers_close
from tests.factories import EmployeeFactory, hr_user, price

K = 10**6
pytestmark = pytest.mark.django_db


def budget_of(employee, dollars, fiscal_year=None):
    budget, _ = budget_create(fiscal_year=fiscal_year or current_fiscal_year(), employee=employee)
    Budget.objects.filter(pk=budget.pk).update(enforcement=Enforcement.HARD)
    budget_allocate(budget=budget, amount_micros=dollars * K, acting_user=None)
    return budget


def spend(employee, event_id, dollars):
    result = usage_ingest(
        events=[
            {
                "id": event_id,
                "employee": employee.user.email,
                "model": "m",
                "input_tokens": 1,
                "output_tokens": 1,
                "cost_usd": str(dollars),
                "occurred_at": timezone.now().isoformat(),
            }
        ],
        source="gateway",
    )
    assert result.accepted == 1, result


def ledger_matches(budget: Budget) -> None:
    budget.refresh_from_db()
    entries = LedgerEntry.objects.filter(budget=budget)
    usage = entries.filter(kind=EntryKind.USAGE).aggregate(s=Sum("amount_micros"))["s"] or 0
    rest = entries.exclude(kind=EntryKind.USAGE).aggregate(s=Sum("amount_micros"))["s"] or 0
    assert (budget.spent_micros, budget.allocated_micros) == (usage, rest)


def test_a_leaver_is_refused_at_once_their_holds_released_and_the_unused_forfeited():
    price()
    hr = hr_user()
    leaver = EmployeeFactory(user__email="leaver@example.com")
    this_year = budget_of(leaver, 1_000)
    next_year = budget_of(leaver, 400, fiscal_year=current_fiscal_year() + 1)
    spend(leaver, "e-1", 300)
    held = authorize(employee=leaver, estimated_cost_micros=50 * K, reserve=True, request_id="r1")
    assert held.allowed and held.reservation is not None

    done = employee_deactivate(employee=leaver, acting_user=hr)

    leaver.refresh_from_db()
    assert not leaver.is_active and not leaver.user.is_active
    assert leaver.left_on == company_today()
    hold = Reservation.objects.get(pk=held.reservation.pk)
    assert hold.state == ReservationState.RELEASED and hold.closed_at is not None
    this_year.refresh_from_db()
    next_year.refresh_from_db()
    # what was spent stays spent; everything else of both years is gone, once, by entries
    assert (this_year.allocated_micros, this_year.spent_micros) == (300 * K, 300 * K)
    assert this_year.reserved_micros == 0
    assert next_year.allocated_micros == 0
    forfeits = LedgerEntry.objects.filter(kind=EntryKind.FORFEITURE).order_by("budget_id")
    assert [(f.budget_id, f.amount_micros, f.acting_user) for f in forfeits] == [
        (this_year.pk, -700 * K, hr),
        (next_year.pk, -400 * K, hr),
    ]
    assert "left on" in forfeits[0].memo
    ledger_matches(this_year)
    ledger_matches(next_year)
    assert done == ["1 held reservation(s) released ($50.00); $1,100.00 unused forfeited"]
    # and from the commit on, authorize refuses them with the reason
    refused = authorize(employee=leaver, estimated_cost_micros=1 * K)
    assert not refused.allowed and "not an active employee" in refused.reason


def test_closing_a_leaver_again_changes_nothing():
    leaver = EmployeeFactory()
    budget = budget_of(leaver, 100)
    employee_deactivate(employee=leaver, acting_user=None)
    assert employee_deactivate(employee=leaver, acting_user=None) == []
    assert LedgerEntry.objects.filter(kind=EntryKind.FORFEITURE).count() == 1
    ledger_matches(budget)


def test_a_last_day_still_to_come_becomes_today_a_past_one_is_kept():
    ahead = EmployeeFactory(left_on=company_today() + timedelta(days=30))
    employee_deactivate(employee=ahead, acting_user=None)
    assert Employee.objects.get(pk=ahead.pk).left_on == company_today()
    past_day = company_today() - timedelta(days=3)
    behind = EmployeeFactory(left_on=past_day)
    employee_deactivate(employee=behind, acting_user=None)
    assert Employee.objects.get(pk=behind.pk).left_on == past_day


def test_the_nightly_job_closes_those_past_their_last_day_only():
    gone = EmployeeFactory(left_on=company_today() - timedelta(days=1))
    last_day_today = EmployeeFactory(left_on=company_today())
    budget_of(gone, 100)
    assert leavers_close.delay().get() == 1
    assert not Employee.objects.get(pk=gone.pk).is_active
    assert Employee.objects.get(pk=last_day_today.pk).is_active
    assert leavers_due_close() == 0


def test_the_job_is_on_the_beat_schedule(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "people.leavers_close" in tasks


def test_hr_closes_leavers_from_the_employee_list(client):
    hr = hr_user()
    leaver = EmployeeFactory()
    budget_of(leaver, 100)
    client.force_login(hr)
    page = client.post(
        reverse("admin:people_employee_changelist"),
        {"action": "close_as_leavers", "_selected_action": [leaver.pk]},
        follow=True,
    )
    assert "$100.00 unused forfeited" in page.content.decode()
    assert not Employee.objects.get(pk=leaver.pk).is_active


def _change_form_data(page) -> dict:
    """What the browser would post back unchanged: the form's values and each inline's
    management form."""
    data = _values(page.context["adminform"].form)
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management.initial.get(name, 0)
        for form in inline.formset.forms:
            data |= _values(form)
    return data


def _values(form) -> dict:
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if hasattr(value, "pk"):
            value = value.pk
        if value is True:
            data[form.add_prefix(name)] = "on"
        elif value not in (None, False):
            data[form.add_prefix(name)] = value
    return data


def test_unticking_active_in_the_admin_closes_the_leaver(client):
    hr = hr_user()
    leaver = EmployeeFactory()
    budget = budget_of(leaver, 100)
    client.force_login(hr)
    url = reverse("admin:people_employee_change", args=[leaver.pk])
    data = _change_form_data(client.get(url))
    data.pop("is_active")
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    assert "unused forfeited" in response.content.decode(), response.content.decode()[:3000]
    budget.refresh_from_db()
    assert budget.allocated_micros == 0
    ledger_matches(budget)


def test_a_leaver_that_cannot_be_closed_leaves_nothing_half_done(monkeypatch):
    """One transaction: if a later step fails, the employee stays active and keeps their hold."""
    price()
    leaver = EmployeeFactory()
    budget = budget_of(leaver, 100)
    held = authorize(employee=leaver, estimated_cost_micros=5 * K, reserve=True, request_id="r")

    def fails(employee, acting_user, now):
        raise AllotError("a step after the budgets failed")

    monkeypatch.setattr(services, "_LEAVER_HOOKS", [*services._LEAVER_HOOKS, fails])
    with pytest.raises(AllotError):
        employee_deactivate(employee=leaver, acting_user=None)
    leaver.refresh_from_db()
    assert leaver.is_active and leaver.user.is_active and leaver.left_on is None
    assert Reservation.objects.get(pk=held.reservation.pk).state == ReservationState.HELD
    assert not LedgerEntry.objects.filter(kind=EntryKind.FORFEITURE).exists()
    budget.refresh_from_db()
    assert budget.reserved_micros == 5 * K
