"""An offer's approval request carries the whole package (base salary, stock, sign-on): it is
HR's, its hiring manager's and its approvers', on every page that shows requests."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from approvals.models import RequestKind
from approvals.selectors import user_can_see_request
from approvals.services import approvals_escalate, request_decide, request_submit
from compensation.services import offer_submit
from tests.compensation.conftest import K, make_offer
from tests.factories import finance_user

pytestmark = pytest.mark.django_db


def submitted_offer(org, **package):
    offer = make_offer(org, **package)
    return offer_submit(offer=offer, acting_user=org["hr"], reason="Strong loop")


def test_finance_cannot_open_an_offer_request_in_the_admin_nor_find_it_in_the_list(client, org):
    # given an offer waiting for its hiring manager, and an engineer's increase
    offer_request = submitted_offer(org)
    increase = request_submit(
        kind=RequestKind.INCREASE,
        requester=org["engineer"].user,
        employee=org["engineer"],
        amount_micros=5_000 * K,
        reason="agents",
    )
    offer_url = reverse("admin:approvals_approvalrequest_change", args=[offer_request.pk])
    increase_url = reverse("admin:approvals_approvalrequest_change", args=[increase.pk])

    # when finance opens the offer's request and the list of requests in the admin
    client.force_login(finance_user())
    change = client.get(offer_url, follow=True)
    listing = client.get(reverse("admin:approvals_approvalrequest_changelist")).content.decode()

    # then the package is nowhere, as if there were no such request; the increase still is
    assert change.redirect_chain and change.redirect_chain[0][1] == 302
    assert "Base salary" not in change.content.decode()
    assert "$190,000.00" not in change.content.decode()
    assert offer_url not in listing and increase_url in listing
    assert client.get(increase_url).status_code == 200


def test_hr_reads_the_offer_request_in_the_admin(client, org):
    offer_request = submitted_offer(org)
    client.force_login(org["hr"])

    page = client.get(reverse("admin:approvals_approvalrequest_change", args=[offer_request.pk]))
    listing = client.get(reverse("admin:approvals_approvalrequest_changelist")).content.decode()

    assert page.status_code == 200 and "Base salary $190,000.00" in page.content.decode()
    assert reverse("admin:approvals_approvalrequest_change", args=[offer_request.pk]) in listing


def test_the_hiring_manager_keeps_seeing_the_offer_when_the_step_moves_up(org):
    # given an offer whose step, left waiting, escalates from the hiring manager to the director
    offer_request = submitted_offer(org)
    with time_machine.travel(timezone.now() + timedelta(days=5)):
        assert approvals_escalate() == 1
    assert offer_request.steps.get().approver == org["director"].user

    # then the director (whose step it now is), HR and the hiring manager see it; nobody else
    assert user_can_see_request(org["director"].user, offer_request)
    assert user_can_see_request(org["hr"], offer_request)
    assert user_can_see_request(org["manager"].user, offer_request)
    assert not user_can_see_request(org["finance"], offer_request)
    assert not user_can_see_request(org["engineer"].user, offer_request)


def test_finance_sees_an_offer_only_once_its_own_step_is_reached(org):
    # given a package far outside its bands: hiring manager, director, then finance
    offer_request = submitted_offer(org, base_salary_micros=400_000 * K)
    assert [step.role for step in offer_request.steps.all()] == [
        "manager",
        "skip_level",
        "finance",
    ]

    # then finance sees nothing of it until its step comes, and the director only from theirs
    assert not user_can_see_request(org["finance"], offer_request)
    assert not user_can_see_request(org["director"].user, offer_request)
    request_decide(request=offer_request, user=org["manager"].user, approve=True)
    assert user_can_see_request(org["director"].user, offer_request)
    assert not user_can_see_request(org["finance"], offer_request)
    request_decide(request=offer_request, user=org["director"].user, approve=True)
    assert user_can_see_request(org["finance"], offer_request)


def test_the_request_pages_show_the_offer_to_its_people_only(client, org):
    offer_request = submitted_offer(org)
    detail = reverse("approvals:detail", args=[offer_request.pk])

    for user, status in [
        (org["hr"], 200),
        (org["manager"].user, 200),
        (org["director"].user, 404),
        (org["engineer"].user, 404),
        (finance_user(), 404),
    ]:
        client.force_login(user)
        assert client.get(detail).status_code == status, user

    client.force_login(org["manager"].user)
    assert detail in client.get(reverse("approvals:inbox")).content.decode()
    client.force_login(org["hr"])
    assert detail in client.get(reverse("approvals:requests")).content.decode()
