"""HR imports employees from CSV or XLSX in the admin: a preview of what will be created and
changed, errors per row with the column, and nothing written if any row is refused."""

import io
from datetime import date

import pytest
import tablib
from django.contrib.auth import get_user_model
from django.urls import reverse

from people.imports import COLUMNS as HEADERS
from people.imports import EmployeeResource
from people.models import Employee
from tests.factories import EmployeeFactory, TeamFactory, finance_user, hr_user, level

pytestmark = pytest.mark.django_db
User = get_user_model()


def dataset(*rows) -> tablib.Dataset:
    return tablib.Dataset(*rows, headers=list(HEADERS))


@pytest.fixture
def org():
    senior = level("senior")
    team = TeamFactory(name="Platform")
    boss = EmployeeFactory(user__email="boss@example.com", team=team, level=senior)
    return {"senior": senior, "mid": level("mid"), "team": team, "boss": boss}


def test_new_people_and_a_change_are_written_in_one_go(org):
    rows = dataset(
        # a report listed before her manager, who is further down the file
        ["ada@example.com", "Ada", "Lovelace", "mid", "Platform", "lin@example.com",
         "2026-01-05", "HR-1"],
        ["lin@example.com", "Lin", "Chen", "Senior", "Platform", "boss@example.com",
         "2025-03-01", "HR-2"],
        # the boss moves level
        ["BOSS@example.com", "", "", "mid", "Platform", "", "2020-01-06", ""],
    )  # fmt: skip
    result = EmployeeResource().import_data(rows, dry_run=False)

    assert not result.has_errors() and not result.has_validation_errors()
    assert (result.totals["new"], result.totals["update"]) == (2, 1)
    ada = Employee.objects.get(user__email="ada@example.com")
    lin = Employee.objects.get(user__email="lin@example.com")
    assert ada.manager == lin and lin.manager == org["boss"]
    assert (ada.level, ada.team, ada.hire_date) == (org["mid"], org["team"], date(2026, 1, 5))
    assert ada.external_id == "HR-1" and lin.external_id == "HR-2"
    assert not ada.user.has_usable_password() and ada.user.groups.filter(name="Engineers").exists()
    assert lin.user.groups.filter(name="Managers").exists()  # she has a report now
    org["boss"].refresh_from_db()
    assert org["boss"].level == org["mid"]
    # the history says who was changed, as for an edit in the admin
    assert org["boss"].history.count() == 2


def test_the_same_file_again_changes_nothing(org):
    rows = dataset(["ada@example.com", "Ada", "Lovelace", "mid", "Platform", "", "2026-01-05", ""])
    EmployeeResource().import_data(rows, dry_run=False)
    again = EmployeeResource().import_data(rows, dry_run=False)
    assert again.totals["skip"] == 1 and again.totals["new"] == 0
    assert Employee.objects.filter(user__email="ada@example.com").count() == 1


def test_a_refused_row_writes_nothing_and_says_which_column(org):
    rows = dataset(
        ["ok@example.com", "Ok", "Person", "mid", "Platform", "", "2026-01-05", ""],
        ["bad@example.com", "Bad", "Level", "principal", "Platform", "", "2026-01-05", ""],
        ["who@example.com", "No", "Manager", "mid", "", "ghost@example.com", "2026-01-05", ""],
        ["ok@example.com", "Twice", "Listed", "mid", "", "", "2026-01-05", ""],
        ["noname@example.com", "", "", "mid", "", "", "2026-01-05", ""],
        ["not-an-email", "X", "Y", "mid", "", "", "2026-01-05", ""],
        ["date@example.com", "X", "Y", "mid", "", "", "05/01/2026", ""],
    )
    result = EmployeeResource().import_data(rows, dry_run=False)

    assert result.has_validation_errors()
    errors = {row.number: row.error_dict for row in result.invalid_rows}
    assert "No level named 'principal'" in str(errors[2]["level"])
    assert "Nobody employed here signs in as ghost@example.com" in str(errors[3]["manager_email"])
    assert "in the file twice" in str(errors[4]["email"])
    assert "needs a first and a last name" in str(errors[5]["first_name"])
    assert "is not an email address" in str(errors[6]["email"])
    assert "hire_date" in errors[7]
    assert 1 not in errors
    assert not User.objects.filter(email="ok@example.com").exists()  # nothing written
    assert Employee.objects.count() == 1


def test_hr_previews_then_confirms_in_the_admin(client, org):
    hr = hr_user()
    client.force_login(hr)
    csv = (
        ",".join(HEADERS)
        + "\nada@example.com,Ada,Lovelace,mid,Platform,boss@example.com,2026-01-05,\n"
    )
    upload = io.BytesIO(csv.encode())
    upload.name = "people.csv"
    preview = client.post(
        reverse("admin:people_employee_import"),
        {"resource": "0", "format": "0", "import_file": upload},
    )
    assert preview.status_code == 200
    body = preview.content.decode()
    assert "ada@example.com" in body and "New" in body
    assert not User.objects.filter(email="ada@example.com").exists()  # a preview writes nothing

    confirm = preview.context["confirm_form"]
    done = client.post(
        reverse("admin:people_employee_process_import"),
        {name: confirm[name].value() for name in confirm.fields},
        follow=True,
    )
    assert done.status_code == 200
    ada = Employee.objects.get(user__email="ada@example.com")
    assert ada.manager == org["boss"]
    assert ada.history.get().history_user == hr  # the audit trail names who imported her


def test_an_xlsx_file_imports_too(client, org):
    client.force_login(hr_user())
    rows = dataset(["xl@example.com", "Excel", "User", "mid", "Platform", "", "2026-02-02", ""])
    upload = io.BytesIO(rows.export("xlsx"))
    upload.name = "people.xlsx"
    preview = client.post(
        reverse("admin:people_employee_import"),
        {"resource": "0", "format": "1", "import_file": upload},
    )
    assert preview.status_code == 200 and "xl@example.com" in preview.content.decode()


def test_finance_cannot_import_employees(client, org):
    client.force_login(finance_user())
    assert client.get(reverse("admin:people_employee_import")).status_code == 403
