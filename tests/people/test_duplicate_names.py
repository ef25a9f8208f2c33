"""People with the same name are told apart (issue 20): the email beside a name someone else
has, in the approvals inbox and request detail, the request form, the admin and the audit."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from approvals.models import ApprovalRequest
from budgets.services import budget_allocate, budget_create
from people.labels import person_label, shared_display_names
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, finance_user, hr_user

pytestmark = pytest.mark.django_db

FIRST, SECOND = "Ada Turing (ada.turing1@example.com)", "Ada Turing (ada.turing2@example.com)"


@pytest.fixture
def twins():
    """Given two engineers called Ada Turing under one manager, each with a budget, and an
    engineer whose name nobody else has."""
    manager = EmployeeFactory(user__email="lead@example.com", user__first_name="Lin",
                              user__last_name="Lead")  # fmt: skip
    adas = [
        EmployeeFactory(
            user__email=f"ada.turing{n}@example.com",
            user__first_name="Ada",
            user__last_name="Turing",
            manager=manager,
            team=manager.team,
        )  # fmt: skip
        for n in (1, 2)
    ]
    unique = EmployeeFactory(user__email="grace@example.com", user__first_name="Grace",
                             user__last_name="Unique", manager=manager)  # fmt: skip
    for ada in adas:
        budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=ada)
        budget_allocate(budget=budget, amount_micros=10_000 * 10**6, acting_user=None)
    return {"manager": manager, "adas": adas, "unique": unique}


def test_the_label_adds_the_email_only_when_the_name_is_shared(twins):
    shared = shared_display_names()
    assert shared == frozenset({"ada turing"})
    assert [person_label(ada, shared) for ada in twins["adas"]] == [FIRST, SECOND]
    assert person_label(twins["unique"], shared) == "Grace Unique"
    assert person_label(twins["adas"][0].user, shared) == FIRST  # a sign-in reads the same


def test_the_inbox_and_the_request_detail_tell_the_two_apart(client, twins):
    for ada in twins["adas"]:
        client.force_login(ada.user)
        response = client.post(
            reverse("approvals:requests"),
            {"kind": "increase", "employee": ada.pk, "amount": "500", "reason": "evals"},
        )
        assert response.status_code == 302
    client.force_login(twins["manager"].user)
    inbox = client.get(reverse("approvals:inbox")).content.decode()
    assert inbox.count(FIRST) == 2 and inbox.count(SECOND) == 2  # asked by, and for
    second = ApprovalRequest.objects.get(employee=twins["adas"][1])
    detail = client.get(second.get_absolute_url()).content.decode()
    assert f"Asked by {SECOND}" in detail and f"for {SECOND}" in detail
    assert FIRST not in detail


def test_the_request_forms_people_selects_show_emails(client, twins):
    client.force_login(twins["manager"].user)
    form = client.get(reverse("approvals:requests")).content.decode()
    assert "ada.turing1@example.com" in form and "ada.turing2@example.com" in form


def test_the_admin_list_and_autocomplete_show_emails(client, twins):
    for ada in twins["adas"]:
        EmployeeFactory(manager=ada)
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "x"))
    listing = client.get("/admin/people/employee/").content.decode()
    assert FIRST in listing and SECOND in listing  # the manager column
    found = client.get(
        "/admin/autocomplete/",
        {"app_label": "people", "model_name": "team", "field_name": "lead", "term": "Turing"},
    ).json()
    assert sorted(r["text"] for r in found["results"]) == [FIRST, SECOND]


def test_the_audit_trail_names_each_of_the_two(client, twins):
    hr = hr_user(first_name="Harriet", last_name="Resources")
    for ada in twins["adas"]:
        ada._history_user = hr
        ada.external_id = f"hr-{ada.pk}"
        ada.save()
    department = twins["manager"].team.department
    department._history_user = hr
    department.head = twins["adas"][1]
    department.save()
    client.force_login(finance_user())
    trail = client.get(reverse("audit:trail")).content.decode()
    assert FIRST in trail and SECOND in trail
    assert f"Head: – → {SECOND}" in trail  # a name in a change, too
    assert "Harriet Resources" in trail and "Harriet Resources (" not in trail
