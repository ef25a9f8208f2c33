"""Finance's audit trail: who changed what, across the models, state changes and the ledger."""

import pytest

from approvals.models import RequestKind
from approvals.services import request_submit
from budgets.services import budget_allocate, budget_create
from compensation.services import offer_submit
from tests.compensation.conftest import make_offer
from tests.factories import EmployeeFactory, ProjectFactory, UserFactory, finance_user, hr_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def changed_world():
    hr = hr_user(first_name="Harriet", last_name="Resources")
    employee = EmployeeFactory()
    employee.level_id = employee.level_id  # a save with a known user in the history
    employee._history_user = hr
    employee.is_active = False
    employee.save()
    budget, _ = budget_create(fiscal_year=2026, employee=employee, acting_user=hr)
    budget_allocate(budget=budget, amount_micros=7_500_000_000, acting_user=hr, memo="FY26")
    return hr, employee


def test_finance_sees_who_changed_what(client, changed_world):
    hr, employee = changed_world
    client.force_login(finance_user())

    page = client.get("/audit/").content.decode()

    assert "Harriet Resources" in page
    assert "Active: yes → no" in page  # the field's label and the values' words
    assert "posted allocation $7,500.00" in page
    assert str(employee) in page


def test_filters_narrow_the_trail(client, changed_world):
    client.force_login(finance_user())

    only_ledger = client.get("/audit/", {"what": "ledger"}).content.decode()
    nobody = client.get("/audit/", {"who": "no-such-person"}).content.decode()
    backwards = client.get("/audit/", {"since": "2026-02-01", "until": "2026-01-01"})

    assert "posted allocation" in only_ledger and "is_active" not in only_ledger
    assert "Nothing matches." in nobody
    assert "The start date is after the end date." in backwards.content.decode()


@pytest.mark.parametrize("make_user", [hr_user, lambda: EmployeeFactory().user, UserFactory])
def test_audit_trail_is_finance_only(client, make_user):
    client.force_login(make_user())

    assert client.get("/audit/").status_code == 403


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/audit/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_finance_does_not_see_offer_history_or_transitions(client, db):
    """Found by review: the trail showed finance every model's history, offers (salaries)
    included, which the matrix keeps HR-only."""
    from tests.compensation.conftest import make_offer

    hr = hr_user()
    manager = EmployeeFactory()
    make_offer({"team": manager.team, "manager": manager, "hr": hr})
    client.force_login(finance_user())

    everything = client.get("/audit/").content.decode()
    offers = client.get("/audit/", {"what": "compensation.offer"})

    assert "base_salary" not in everything and "Lovelace" not in everything
    assert offers.status_code == 200
    assert "Select a valid choice" in offers.content.decode()


def test_hr_style_superuser_sees_offer_history(client, db):
    from tests.compensation.conftest import make_offer

    hr = hr_user()
    manager = EmployeeFactory()
    make_offer({"team": manager.team, "manager": manager, "hr": hr})
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    page = client.get("/audit/", {"what": "compensation.offer"}).content.decode()

    assert "Lovelace" in page
    assert "America/New_York" in page or "UTC" in page


def test_only_the_page_shown_is_built_so_deep_pages_cost_no_more_queries(db):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit.selectors import audit_trail

    employee = EmployeeFactory()
    for flag in range(40):  # 40 changes, each a diff against the one before
        employee.is_active = bool(flag % 2)
        employee.save()

    with CaptureQueriesContext(connection) as first:
        newest = audit_trail(what="people.employee", limit=5)
    with CaptureQueriesContext(connection) as deep:
        older = audit_trail(what="people.employee", limit=5, offset=30)

    assert len(newest) == len(older) == 5
    assert newest[0].at > older[0].at
    assert all(row.changes for row in newest + older)
    assert len(deep.captured_queries) <= len(first.captured_queries) + 1


def test_finance_does_not_see_the_transitions_of_offer_requests(client, db):
    """An offer's request is named by the package's total ("Offer #7: $265,000.00") and its
    transitions by the chain that decides it: HR's, not finance's."""
    # given an offer submitted for approval, and an engineer's increase
    hr = hr_user()
    manager = EmployeeFactory()
    engineer = EmployeeFactory(manager=manager)
    offer_request = offer_submit(
        offer=make_offer({"team": manager.team, "manager": manager, "hr": hr}), acting_user=hr
    )
    increase = request_submit(
        kind=RequestKind.INCREASE,
        requester=engineer.user,
        employee=engineer,
        amount_micros=5_000_000_000,
        reason="agents",
    )

    # when finance, then a superuser, read the state changes
    client.force_login(finance_user())
    for_finance = client.get("/audit/", {"what": "transitions"}).content.decode()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    for_superuser = client.get("/audit/", {"what": "transitions"}).content.decode()

    # then finance sees the increase's and not the offer's; the superuser both
    assert f"(request #{offer_request.pk}):" not in for_finance
    assert f"Budget increase #{increase.pk}:" in for_finance
    assert f"Offer #{offer_request.subject_id} (request #{offer_request.pk}):" in for_superuser


@pytest.mark.parametrize("query", ["until=9999-12-31", "since=0001-01-01", "until=9999-12-30"])
def test_the_calendars_last_and_first_days_are_a_clear_answer_not_a_500(client, query):
    client.force_login(finance_user())

    response = client.get(f"/audit/?{query}")

    assert response.status_code == 200


def test_changes_read_as_labels_names_and_dollars_and_export_as_csv(client, db):
    # Given HR naming a department's head, adding a project member, and a request submitted
    hr = hr_user()
    ada = EmployeeFactory(user__first_name="Ada", user__last_name="Turing")
    department = ada.team.department
    department._history_user = hr
    department.head = ada
    department.save()
    project = ProjectFactory(lead=ada)
    project.members.add(ada)
    project._history_user = hr
    project.justification = "new"
    project.save()
    request_submit(
        kind=RequestKind.INCREASE,
        requester=ada.user,
        employee=ada,
        amount_micros=5_000_000_000,
        reason="agents",
    )
    # When finance reads the trail
    client.force_login(finance_user())
    page = client.get("/audit/").content.decode()
    # Then labels, names and state labels, not columns, ids and stored values
    assert "Head: – → Ada Turing" in page
    assert "head: None" not in page and "&#x27;employee&#x27;" not in page
    assert "Members: – → Ada Turing" in page
    assert "Draft → In review" in page and "draft → in_review" not in page
    # And the same rows, filtered, as a CSV file
    export = client.get("/audit/", {"what": "people.department", "export": "csv"})
    assert export["Content-Type"].startswith("text/csv")
    lines = export.content.decode().splitlines()
    assert lines[0].startswith("when,who,record_type,record,what_happened,changes")
    assert any("Head: – → Ada Turing" in line for line in lines[1:])
    assert not any("In review" in line for line in lines[1:])
