"""A level change through the screens HR and finance use: the company's policy in the settings
admin, the employee's change form (what it posts is shown before it is saved, then confirmed),
and the import (its preview and its result say what each new level posts)."""

import io
from datetime import UTC, datetime

import pytest
import tablib
import time_machine
from django.urls import reverse

from approvals.models import ApprovalRequest, RequestKind
from budgets.models import EntryKind, LedgerEntry
from people.imports import COLUMNS, EmployeeResource
from people.models import CompanySettings, LevelChangePolicy
from tests.factories import finance_user, hr_user, level
from tests.people.test_leavers import _change_form_data
from tests.people.test_level_changes import UP_FROM_JUNE, allocated, policy

JUNE = datetime(2026, 6, 15, 12, tzinfo=UTC)
PREVIEW = "Level mid → senior from 2026-06-15: +$27,397.26 in FY2026 (policy: automatic)."

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _june():
    with time_machine.travel(JUNE, tick=False):
        yield


def level_entries(employee):
    return LedgerEntry.objects.filter(budget__employee=employee, kind=EntryKind.LEVEL_CHANGE)


@pytest.mark.parametrize("role_user", [hr_user, finance_user])
def test_hr_and_finance_set_the_policy_in_the_settings(client, role_user):
    client.force_login(role_user())
    CompanySettings.objects.get_or_create(pk=1)
    url = reverse("admin:people_companysettings_change", args=[1])
    data = _change_form_data(client.get(url))
    data["level_change_policy"] = LevelChangePolicy.NEXT_YEAR
    data["alert_thresholds"] = "[50, 80, 90, 100]"  # the JSON as the browser posts it
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert CompanySettings.objects.get(pk=1).level_change_policy == "next_year"


def test_the_change_form_shows_what_a_new_level_posts_then_confirming_posts_it(client):
    # given the automatic policy and an engineer allocated mid's budget
    policy(LevelChangePolicy.AUTOMATIC)
    hr = hr_user()
    engineer = allocated()
    client.force_login(hr)
    url = reverse("admin:people_employee_change", args=[engineer.pk])
    data = _change_form_data(client.get(url))
    # when HR picks senior from June 15 and saves
    data |= {"level": level("senior").pk, "level_effective_from": "2026-06-15"}
    shown = client.post(url, data)
    # then the form comes back with the amount, and nothing is saved or posted
    assert shown.status_code == 200
    assert PREVIEW in shown.content.decode()
    engineer.refresh_from_db()
    assert engineer.level == level("mid") and not level_entries(engineer).exists()
    # when HR ticks the box and saves again
    done = client.post(url, {**data, "confirm_level_change": "on"}, follow=True)
    # then the level moves and the difference is posted, as the message says
    assert done.status_code == 200
    assert "+$27,397.26 in FY2026 posted (policy: automatic)" in done.content.decode()
    engineer.refresh_from_db()
    assert engineer.level == level("senior")
    entry = level_entries(engineer).get()
    assert entry.amount_micros == UP_FROM_JUNE and entry.acting_user == hr


def test_through_approval_the_change_form_opens_the_request(client):
    hr = hr_user()
    engineer = allocated()
    client.force_login(hr)
    url = reverse("admin:people_employee_change", args=[engineer.pk])
    data = _change_form_data(client.get(url))
    data |= {"level": level("senior").pk, "level_effective_from": "2026-06-15"}
    shown = client.post(url, data)
    assert "+$27,397.26 in FY2026, once approved (policy: through approval)" in (
        shown.content.decode()
    )
    client.post(url, {**data, "confirm_level_change": "on"})
    request = ApprovalRequest.objects.get(kind=RequestKind.LEVEL_CHANGE)
    assert request.employee == engineer and request.requester == hr
    assert request.amount_micros == UP_FROM_JUNE and not level_entries(engineer).exists()


def test_a_day_before_this_fiscal_year_is_an_error_on_its_field(client):
    engineer = allocated()
    client.force_login(hr_user())
    url = reverse("admin:people_employee_change", args=[engineer.pk])
    data = _change_form_data(client.get(url))
    data |= {"level": level("senior").pk, "level_effective_from": "2025-06-15"}
    page = client.post(url, {**data, "confirm_level_change": "on"})
    assert page.status_code == 200
    errors = page.context["adminform"].form.errors
    assert "FY2026 or later" in errors["level_effective_from"][0]
    engineer.refresh_from_db()
    assert engineer.level == level("mid")


def _upload(*rows: str) -> io.BytesIO:
    upload = io.BytesIO(
        (",".join([*COLUMNS, "level_effective_from"]) + "\n" + "\n".join(rows)).encode()
    )
    upload.name = "people.csv"
    return upload


def test_the_import_previews_and_posts_a_new_level(client):
    policy(LevelChangePolicy.AUTOMATIC)
    hr = hr_user()
    engineer = allocated(user__email="moving@example.com", team=None)
    client.force_login(hr)
    row = "moving@example.com,,,senior,,manager-of-mid@example.com,2020-01-06,,2026-06-15"
    preview = client.post(
        reverse("admin:people_employee_import"),
        {"resource": "0", "format": "0", "import_file": _upload(row)},
    )
    assert preview.status_code == 200
    said = f"{engineer.display_name}: Level mid → senior from 2026-06-15: +$27,397.26 in FY2026"
    assert f"On confirming: {said} posted (policy: automatic)." in preview.content.decode()
    assert not level_entries(engineer).exists()  # a preview writes nothing
    confirm = preview.context["confirm_form"]
    done = client.post(
        reverse("admin:people_employee_process_import"),
        {name: confirm[name].value() for name in confirm.fields},
        follow=True,
    )
    assert "+$27,397.26 in FY2026 posted (policy: automatic)" in done.content.decode()
    engineer.refresh_from_db()
    assert engineer.level == level("senior")
    entry = level_entries(engineer).get()
    assert entry.amount_micros == UP_FROM_JUNE and entry.acting_user == hr


def test_an_import_row_with_a_bad_day_is_refused_on_the_row():
    engineer = allocated(user__email="bad@example.com", team=None)
    rows = tablib.Dataset(
        ["bad@example.com", "", "", "senior", "", "", "2020-01-06", "", "2025-01-01"],
        headers=[*COLUMNS, "level_effective_from"],
    )
    result = EmployeeResource().import_data(rows, dry_run=False)
    assert result.has_validation_errors()
    engineer.refresh_from_db()
    assert engineer.level == level("mid")


def test_approvers_see_the_level_change_and_decide_it_on_its_page(client):
    # given a level down through approval (the default), for someone who has spent nothing
    finance = finance_user()
    engineer = allocated("senior")
    client.force_login(hr_user())
    url = reverse("admin:people_employee_change", args=[engineer.pk])
    data = _change_form_data(client.get(url)) | {"level": level("mid").pk}
    client.post(url, {**data, "confirm_level_change": "on"})
    request = ApprovalRequest.objects.get(kind=RequestKind.LEVEL_CHANGE)
    # when the manager opens it, then it says the level moved and the amount taken back
    client.force_login(engineer.manager.user)
    page = client.get(reverse("approvals:detail", args=[request.pk])).content.decode()
    assert "of −$27,397.26" in page and "Level senior → mid from 2026-06-15" in page
    assert "taken back" in page
    # when the manager and then finance approve on the page
    for user in (engineer.manager.user, finance):
        client.force_login(user)
        step = request.steps.get(index=request.current_step)
        done = client.post(
            reverse("approvals:decide", args=[request.pk]),
            {"decision": "approve", "step": step.index, "comment": ""},
        )
        assert done.status_code == 302
        request.refresh_from_db()
    # then the difference is taken back once
    assert level_entries(engineer).get().amount_micros == -UP_FROM_JUNE
