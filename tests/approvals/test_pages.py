import pytest
from django.test import Client
from django.urls import reverse

from approvals.models import ApprovalRequest, RequestState
from budgets.models import Budget
from budgets.services import budget_allocate, budget_create
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    director = EmployeeFactory(user__email="director@example.com")
    manager = EmployeeFactory(user__email="manager@example.com", manager=director)
    engineer = EmployeeFactory(user__email="eng@example.com", manager=manager)
    other_manager = EmployeeFactory(user__email="other@example.com")
    EmployeeFactory(manager=other_manager)
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=engineer)
    budget_allocate(budget=budget, amount_micros=100_000 * 10**6, acting_user=None)
    return {"manager": manager, "engineer": engineer, "other": other_manager}


def submit(client, employee, dollars="5000"):
    return client.post(
        reverse("approvals:requests"),
        {"kind": "increase", "employee": employee.pk, "amount": dollars, "reason": "migration"},
    )


def test_engineer_asks_manager_approves_and_the_dashboard_shows_it(client, org):
    client.force_login(org["engineer"].user)
    page = client.get(reverse("approvals:requests"))
    assert page.status_code == 200 and b"Your budgets now" in page.content
    response = submit(client, org["engineer"])
    request = ApprovalRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == request.get_absolute_url()

    client.force_login(org["manager"].user)
    inbox = client.get(reverse("approvals:inbox")).content.decode()
    assert f"/requests/{request.pk}/" in inbox and "$5,000.00" in inbox
    # the title is the title (it once held the delegation form, CSRF token and all)
    assert "<title>Approvals · Allot</title>" in inbox
    assert inbox.count("Away? Let someone decide for you") == 1
    detail = client.get(request.get_absolute_url()).content.decode()
    assert "Your decision" in detail and "<svg" in detail
    client.post(reverse("approvals:decide", args=[request.pk]), {"decision": "approve"})

    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    assert Budget.objects.get(employee=org["engineer"]).allocated_micros == 105_000 * 10**6
    client.force_login(org["engineer"].user)
    assert b"$105,000.00" in client.get(reverse("dashboard")).content


def test_an_unrelated_manager_gets_404_on_the_page_and_the_action(client, org):
    client.force_login(org["engineer"].user)
    submit(client, org["engineer"])
    request = ApprovalRequest.objects.get()

    client.force_login(org["other"].user)
    assert client.get(request.get_absolute_url()).status_code == 404
    decide = client.post(reverse("approvals:decide", args=[request.pk]), {"decision": "approve"})
    assert decide.status_code == 404
    assert f"/requests/{request.pk}/" not in client.get(reverse("approvals:inbox")).content.decode()
    request.refresh_from_db()
    assert request.state == RequestState.IN_REVIEW


def test_the_requester_cannot_approve_their_own_request(client, org):
    client.force_login(org["engineer"].user)
    submit(client, org["engineer"])
    request = ApprovalRequest.objects.get()
    assert b"Your decision" not in client.get(request.get_absolute_url()).content
    assert (
        client.post(
            reverse("approvals:decide", args=[request.pk]), {"decision": "approve"}
        ).status_code
        == 404
    )


def test_a_rejection_without_a_comment_is_refused_with_a_message(client, org):
    client.force_login(org["engineer"].user)
    submit(client, org["engineer"])
    request = ApprovalRequest.objects.get()
    client.force_login(org["manager"].user)
    response = client.post(
        reverse("approvals:decide", args=[request.pk]), {"decision": "reject"}, follow=True
    )
    assert "Say why you reject it." in response.content.decode()
    request.refresh_from_db()
    assert request.state == RequestState.IN_REVIEW


def test_bad_input_shows_field_errors(client, org):
    client.force_login(org["engineer"].user)
    response = client.post(
        reverse("approvals:requests"), {"kind": "team_topup", "amount": "-5", "reason": ""}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Choose one for this kind of request." in page and "This field is required." in page
    assert not ApprovalRequest.objects.exists()


def test_decisions_need_the_csrf_token(org):
    client = Client(enforce_csrf_checks=True)
    client.force_login(org["engineer"].user)
    response = client.post(
        reverse("approvals:requests"),
        {"kind": "increase", "employee": org["engineer"].pk, "amount": "1", "reason": "x"},
    )
    assert response.status_code == 403


def test_anonymous_people_are_sent_to_sign_in(client):
    for name in ("approvals:inbox", "approvals:requests"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_approver_delegates_while_away_and_the_stand_in_decides(client, org):
    from datetime import timedelta

    from people.selectors import company_today

    stand_in = EmployeeFactory(user__email="standin@example.com")  # a manager at their level
    EmployeeFactory(manager=stand_in)
    client.force_login(org["engineer"].user)
    submit(client, org["engineer"])
    request = ApprovalRequest.objects.get()

    client.force_login(org["manager"].user)
    today = company_today()
    bad = client.post(
        reverse("approvals:delegate"),
        {"delegate": "manager@example.com", "starts_on": today, "ends_on": today},
        follow=True,
    )
    assert "someone other than yourself" in bad.content.decode()
    client.post(
        reverse("approvals:delegate"),
        {
            "delegate": "standin@example.com",
            "starts_on": today,
            "ends_on": today + timedelta(days=3),
        },
    )

    client.force_login(stand_in.user)
    assert f"/requests/{request.pk}/" in client.get(reverse("approvals:inbox")).content.decode()
    client.post(reverse("approvals:decide", args=[request.pk]), {"decision": "approve"})
    step = request.steps.get()
    assert step.on_behalf_of == org["manager"].user and step.decided_by == stand_in.user


def field_rows(page: str) -> dict[str, str]:
    """Each kind-specific field's <p> opening tag, by the field's name."""
    rows = {}
    for name in ("employee", "team", "project", "members", "expected_impact"):
        end = page.index(f'name="{name}"')
        rows[name] = page[page.rindex("<p", 0, end) : page.index(">", page.rindex("<p", 0, end))]
    return rows


def test_the_request_form_shows_only_the_fields_of_the_kind_chosen(client, org):
    client.force_login(org["manager"].user)
    # Given the form as it opens (a budget increase): only "for whom" of the kind fields shows
    rows = field_rows(client.get(reverse("approvals:requests")).content.decode())
    assert "hidden" not in rows["employee"]
    assert all(" hidden" in rows[name] for name in ("team", "project", "members"))
    assert 'data-kinds="project_allocation"' in rows["members"]
    assert "request-kind-fields.js" in client.get(reverse("approvals:requests")).content.decode()
    # When a team top-up comes back with an error; then its team field shows, the others not
    page = client.post(
        reverse("approvals:requests"), {"kind": "team_topup", "amount": "5", "reason": "x"}
    ).content.decode()
    rows = field_rows(page)
    assert "hidden" not in rows["team"] and " hidden" in rows["employee"]


def test_a_field_of_another_kind_is_ignored(client, org):
    # Given an increase sent with members and an impact left over from the project fields
    client.force_login(org["manager"].user)
    client.post(
        reverse("approvals:requests"),
        {
            "kind": "increase",
            "employee": org["engineer"].pk,
            "amount": "5",
            "reason": "x",
            "members": [org["engineer"].pk],
            "expected_impact": "left over",
        },
    )
    # Then the request keeps none of them
    request = ApprovalRequest.objects.get()
    assert request.details == {"members": [], "expected_impact": ""}


def test_people_of_the_same_name_can_be_told_apart(client, org):
    # Given two reports called Ada Turing
    for email in ("ada.one@example.com", "ada.two@example.com"):
        EmployeeFactory(
            user__email=email,
            user__first_name="Ada",
            user__last_name="Turing",
            manager=org["manager"],
        )
    client.force_login(org["manager"].user)
    page = client.get(reverse("approvals:requests")).content.decode()
    # Then each choice names the person's email (and team)
    assert "Ada Turing (ada.one@example.com" in page and "Ada Turing (ada.two@example.com" in page
