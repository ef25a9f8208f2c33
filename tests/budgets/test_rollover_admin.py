"""The rollover in the admin: preview page, CSV, finance-only confirmation, progress."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from budgets.models import Budget, RolloverRun, RolloverState
from budgets.services import employee_allocate_from_level
from tests.factories import EmployeeFactory, UserFactory, finance_user, hr_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def year():
    for _ in range(3):
        employee_allocate_from_level(employee=EmployeeFactory(), fiscal_year=2026, acting_user=None)
    return 2026


def test_finance_previews_a_year_sees_totals_downloads_csv_and_confirms(
    client, year, django_capture_on_commit_callbacks
):
    client.force_login(finance_user())

    response = client.post(reverse("admin:budgets_rolloverrun_new"), {"fiscal_year": year})
    run = RolloverRun.objects.get(fiscal_year=year)
    assert response.status_code == 302
    page = client.get(reverse("admin:budgets_rolloverrun_preview", args=[run.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "$150,000.00" in text  # three mid budgets unused, half carried
    assert "Tokens at the new rate" in text
    assert "Confirm and commit the rollover" in text
    # before the year ends the button is there but disabled, with why; and nothing has started
    assert 'disabled title="FY2026 has not ended' in text
    assert "Not started: 3 owners to roll over once confirmed" in text
    assert "Previewed (waiting for confirmation))" not in text
    csv = b"".join(client.get(reverse("admin:budgets_rolloverrun_csv", args=[run.pk])))
    assert csv.count(b"\n") == 4 and b"carried_usd" in csv

    early = client.post(reverse("admin:budgets_rolloverrun_confirm", args=[run.pk]), follow=True)
    assert "has not ended" in early.content.decode()  # a year still running is only previewed
    run.refresh_from_db()
    assert run.state == RolloverState.PREVIEWED

    with (
        time_machine.travel(datetime(year + 1, 1, 2, 12, tzinfo=UTC)),  # the year has ended
        django_capture_on_commit_callbacks(execute=True),  # the Celery task, eager in tests
    ):
        client.force_login(finance_user(username="fin-2027@example.com"))  # a fresh session
        client.post(reverse("admin:budgets_rolloverrun_confirm", args=[run.pk]))

    run.refresh_from_db()
    assert run.state == RolloverState.DONE
    assert Budget.objects.filter(fiscal_year=year + 1).count() == 3
    listing = client.get(reverse("admin:budgets_rolloverrun_changelist"))
    assert "100%" in listing.content.decode()
    done_page = client.get(reverse("admin:budgets_rolloverrun_preview", args=[run.pk]))
    assert "100%: 3 of 3 owners" in done_page.content.decode()
    assert "as committed" in done_page.content.decode()
    assert "Confirm and commit" not in done_page.content.decode()


def test_hr_may_look_but_not_confirm_and_engineers_may_not_look(client, year):
    client.force_login(finance_user())
    client.post(reverse("admin:budgets_rolloverrun_new"), {"fiscal_year": year})
    run = RolloverRun.objects.get(fiscal_year=year)

    client.force_login(hr_user())
    page = client.get(reverse("admin:budgets_rolloverrun_preview", args=[run.pk]))
    assert page.status_code == 200
    assert "Confirm and commit" not in page.content.decode()
    assert (
        client.post(reverse("admin:budgets_rolloverrun_confirm", args=[run.pk])).status_code == 403
    )
    assert (
        client.post(reverse("admin:budgets_rolloverrun_new"), {"fiscal_year": year}).status_code
        == 403
    )
    run.refresh_from_db()
    assert run.state == RolloverState.PREVIEWED

    client.force_login(UserFactory(is_staff=False))
    response = client.get(reverse("admin:budgets_rolloverrun_preview", args=[run.pk]))
    assert response.status_code == 302  # to the admin sign-in
    assert client.get(reverse("admin:budgets_rolloverrun_csv", args=[run.pk])).status_code == 302


def test_a_year_without_budgets_is_shown_on_the_form(client):
    client.force_login(finance_user())

    response = client.post(reverse("admin:budgets_rolloverrun_new"), {"fiscal_year": 2031})

    assert response.status_code == 200
    assert "no budgets in FY2031" in response.content.decode()


def test_carryover_policies_are_edited_in_the_admin(client):
    client.force_login(hr_user())

    assert client.get(reverse("admin:budgets_carryoverpolicy_add")).status_code == 200
    assert client.get(reverse("admin:budgets_carryoverpolicy_changelist")).status_code == 200
