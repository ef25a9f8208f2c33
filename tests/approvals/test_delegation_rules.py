"""Delegation is bounded: a stand-in is someone who could hold the step, for at most the
company's window, and the delegator can end it early. A stored delegation that does not
qualify under today's rules gives no power."""

import re
from datetime import date, timedelta

import pytest
from django.urls import reverse

from approvals.delegation_services import delegation_create
from approvals.models import Delegation, RequestKind, RequestState
from approvals.selectors import inbox_steps, user_can_see_request
from approvals.services import may_decide, request_decide, request_submit
from common.errors import AllotError
from compensation.services import offer_submit
from people.models import CompanySettings
from people.selectors import company_today
from tests.compensation.conftest import make_offer
from tests.factories import EmployeeFactory, finance_user, hr_user, level

pytestmark = pytest.mark.django_db
K = 10**6  # micros per dollar


@pytest.fixture
def org():
    """A senior director over a mid-level manager (and their engineer); elsewhere a mid-level
    manager, a junior manager, and an engineer of another team who manages nobody."""
    director = EmployeeFactory(user__email="director@example.com", level=level("senior"))
    manager = EmployeeFactory(user__email="manager@example.com", manager=director)
    manager.team.lead = manager
    manager.team.save()
    engineer = EmployeeFactory(user__email="eng@example.com", manager=manager, team=manager.team)
    peer = EmployeeFactory(user__email="peer@example.com")
    EmployeeFactory(manager=peer, team=peer.team)
    junior = EmployeeFactory(user__email="junior@example.com", level=level("junior"))
    EmployeeFactory(manager=junior, team=junior.team)
    elsewhere = EmployeeFactory(user__email="elsewhere@example.com")
    return {
        "director": director,
        "manager": manager,
        "engineer": engineer,
        "team": manager.team,
        "peer": peer,
        "junior": junior,
        "elsewhere": elsewhere,
        "hr": hr_user(username="hr@example.com"),
    }


def delegate(org, email, *, days=7, starts_on=None, delegator="manager"):
    starts_on = starts_on or company_today()
    return delegation_create(
        delegator=org[delegator].user,
        delegate_email=email,
        starts_on=starts_on,
        ends_on=starts_on + timedelta(days=days - 1),
    )


def increase(org, dollars=5_000):
    return request_submit(
        kind=RequestKind.INCREASE,
        requester=org["engineer"].user,
        employee=org["engineer"],
        amount_micros=dollars * K,
        reason="agents for the migration",
    )


def company(**changes) -> CompanySettings:
    row, _ = CompanySettings.objects.get_or_create(pk=1)
    for name, value in changes.items():
        setattr(row, name, value)
    row.save()
    return row


@pytest.mark.parametrize("email", ["elsewhere@example.com", "junior@example.com"])
def test_a_stand_in_who_could_not_hold_the_step_is_refused(org, email):
    # an engineer of another team (no reports) and a manager below the approver's level
    with pytest.raises(AllotError, match="choose a manager at level mid or above") as refused:
        delegate(org, email)

    assert refused.value.field == "delegate"
    assert not Delegation.objects.exists()


@pytest.mark.parametrize("email", ["peer@example.com", "director@example.com"])
def test_a_manager_at_the_approvers_level_or_someone_above_them_stands_in(org, email):
    made = delegate(org, email)

    request = increase(org)
    assert may_decide(request.steps.get(), made.delegate) == (True, org["manager"].user)


def test_a_delegation_runs_for_at_most_ninety_days_by_default(org):
    delegate(org, "peer@example.com", days=90)

    with pytest.raises(AllotError, match="at most 90 days") as too_long:
        delegate(org, "peer@example.com", days=91)
    assert too_long.value.field == "ends_on"
    with pytest.raises(AllotError, match="at most 90 days"):
        delegation_create(
            delegator=org["manager"].user,
            delegate_email="director@example.com",
            starts_on=date(1, 1, 1),
            ends_on=date(9999, 12, 31),
        )
    assert Delegation.objects.count() == 1


def test_hr_sets_the_window_and_who_qualifies(org):
    # given HR's rule: ten days at most, and only someone above in the management chain
    company(delegation_max_days=10, delegation_stand_ins="chain")

    # then a peer manager no longer qualifies, the director does, for ten days and not eleven
    with pytest.raises(AllotError, match="above them in their management chain"):
        delegate(org, "peer@example.com", days=5)
    with pytest.raises(AllotError, match="at most 10 days"):
        delegate(org, "director@example.com", days=11)
    assert delegate(org, "director@example.com", days=10).delegate == org["director"].user


def test_a_stored_delegation_that_does_not_qualify_gives_no_power(client, org):
    # given delegations stored before the rules: to an engineer of another team, for all time,
    # and to a peer manager, for all time
    request = increase(org)
    for email in ("elsewhere@example.com", "peer@example.com"):
        Delegation.objects.create(
            delegator=org["manager"].user,
            delegate=org[email.split("@")[0]].user,
            starts_on=date(1, 1, 1),
            ends_on=date(9999, 12, 31),
        )

    # then neither stand-in sees the request, finds it in their inbox, or may decide it
    for stand_in in (org["elsewhere"].user, org["peer"].user):
        assert not inbox_steps(user=stand_in).exists()
        assert may_decide(request.steps.get(), stand_in) == (False, None)
        assert not user_can_see_request(stand_in, request)
        with pytest.raises(AllotError, match="cannot decide"):
            request_decide(request=request, user=stand_in, approve=True)
        client.force_login(stand_in)
        assert client.get(request.get_absolute_url()).status_code == 404
    request.refresh_from_db()
    assert request.state == RequestState.IN_REVIEW


def test_a_stand_in_who_stops_qualifying_loses_the_power(org):
    # given a peer manager standing in for a week
    made = delegate(org, "peer@example.com")
    request = increase(org)
    assert inbox_steps(user=made.delegate).filter(request=request).exists()

    # when their only report moves to another manager, they are no longer a manager
    org["peer"].reports.update(manager=org["director"])

    # then the delegation, still stored, gives no power
    assert not inbox_steps(user=made.delegate).exists()
    assert may_decide(request.steps.get(), made.delegate) == (False, None)


def test_offer_steps_go_only_to_a_stand_in_who_may_see_offers(client, org):
    # given HR lets anyone at the approver's level stand in, and the hiring manager hands their
    # approvals to an engineer at their level who manages nobody
    company(delegation_stand_ins="anyone_at_level")
    made = delegate(org, "elsewhere@example.com")
    offer_request = offer_submit(
        offer=make_offer({"team": org["team"], "manager": org["manager"], "hr": org["hr"]}),
        acting_user=org["hr"],
    )
    budget_request = increase(org)
    stand_in = made.delegate

    # then the stand-in decides the engineer's increase, and sees nothing of the offer
    assert [step.request for step in inbox_steps(user=stand_in)] == [budget_request]
    assert not user_can_see_request(stand_in, offer_request)
    assert may_decide(offer_request.steps.get(), stand_in) == (False, None)
    with pytest.raises(AllotError, match="cannot decide"):
        request_decide(request=offer_request, user=stand_in, approve=True)
    client.force_login(stand_in)
    assert client.get(offer_request.get_absolute_url()).status_code == 404
    request_decide(request=budget_request, user=stand_in, approve=True)


def test_a_manager_standing_in_decides_offer_steps_too(org):
    made = delegate(org, "peer@example.com")
    offer_request = offer_submit(
        offer=make_offer({"team": org["team"], "manager": org["manager"], "hr": org["hr"]}),
        acting_user=org["hr"],
    )

    assert user_can_see_request(made.delegate, offer_request)
    request_decide(request=offer_request, user=made.delegate, approve=True)
    assert offer_request.steps.get().on_behalf_of == org["manager"].user


def test_the_delegator_ends_a_delegation_early_from_the_approvals_page(client, org):
    # given a peer manager standing in for the manager for a week
    made = delegate(org, "peer@example.com")
    request = increase(org)
    end = reverse("approvals:delegation-end", args=[made.pk])
    client.force_login(org["manager"].user)
    assert end in client.get(reverse("approvals:inbox")).content.decode()

    # when another manager, then the stand-in, try to end it, and then the delegator does
    for someone in (org["junior"].user, made.delegate):
        client.force_login(someone)
        assert client.post(end).status_code == 404
    assert inbox_steps(user=made.delegate).exists()
    client.force_login(org["manager"].user)
    ended = client.post(end, follow=True)

    # then from now on the stand-in decides nothing, and the history says who ended it
    assert "no longer stands in for" in ended.content.decode()
    assert not inbox_steps(user=made.delegate).exists()
    assert may_decide(request.steps.get(), made.delegate) == (False, None)
    made.refresh_from_db()
    assert made.ended_by == org["manager"].user
    assert made.history.first().history_user == org["manager"].user
    assert end not in ended.content.decode()  # no button for an ended one
    assert client.get(end).status_code == 405  # a POST, not a link


def test_hr_ends_someone_elses_delegation(client, org):
    made = delegate(org, "peer@example.com")
    client.force_login(org["hr"])

    client.post(reverse("approvals:delegation-end", args=[made.pk]))

    made.refresh_from_db()
    assert made.ended_by == org["hr"]


def test_the_approvals_form_shows_a_refusal_on_its_field(client, org):
    # when the manager hands their approvals to an engineer of another team, for all time
    client.force_login(org["manager"].user)
    url = reverse("approvals:delegate")
    all_time = {"starts_on": "0001-01-01", "ends_on": "9999-12-31"}
    response = client.post(url, {"delegate": "elsewhere@example.com", **all_time})

    # then the page says why, under the stand-in's field, keeps what they typed, stores nothing
    page = response.content.decode()
    assert response.status_code == 200
    assert re.search(
        r'name="delegate"[^>]*value="elsewhere@example.com"[^>]*>'
        r'<ul class="errorlist" id="id_delegate_error"><li>[^<]*choose a manager at level mid',
        page,
    )
    assert not Delegation.objects.exists()
    # and with a stand-in who qualifies, the window is refused, under the last day's field
    window = client.post(url, {"delegate": "peer@example.com", **all_time}).content.decode()
    assert re.search(
        r'<ul class="errorlist" id="id_ends_on_error"><li>[^<]*at most 90 days', window
    )
    assert "end it on 0001-03-31 at the latest" in window
    assert not Delegation.objects.exists()


def test_the_admin_delegation_page_goes_through_the_same_rules(client, org):
    client.force_login(org["hr"])
    add = reverse("admin:approvals_delegation_add")
    today = company_today()

    refused = client.post(
        add,
        {
            "delegator": org["manager"].user.pk,
            "delegate": org["elsewhere"].user.pk,
            "starts_on": today,
            "ends_on": today + timedelta(days=3),
        },
    )
    made = client.post(
        add,
        {
            "delegator": org["manager"].user.pk,
            "delegate": org["peer"].user.pk,
            "starts_on": today,
            "ends_on": today + timedelta(days=3),
        },
    )

    assert refused.status_code == 200
    assert re.search(
        r'<ul class="errorlist" id="id_delegate_error"><li>[^<]*choose a manager at level mid',
        refused.content.decode(),
    )
    assert made.status_code == 302
    delegation = Delegation.objects.get()
    assert delegation.delegate == org["peer"].user
    assert delegation.history.first().history_user == org["hr"]


def test_finance_reads_but_does_not_set_who_may_stand_in(client, org):
    client.force_login(finance_user())
    url = reverse("admin:people_companysettings_change", args=[1])
    page = client.get(url).content.decode()

    assert 'name="delegation_max_days"' not in page and "Delegation (HR&#x27;s)" in page
    client.force_login(org["hr"])
    assert 'name="delegation_max_days"' in client.get(url).content.decode()


def test_hr_ends_a_delegation_with_the_admin_action_and_cannot_edit_or_delete_it(client, org):
    made = delegate(org, "peer@example.com")
    client.force_login(org["hr"])
    changelist = reverse("admin:approvals_delegation_changelist")

    client.post(changelist, {"action": "end_now", "_selected_action": [made.pk]})
    page = client.get(reverse("admin:approvals_delegation_change", args=[made.pk]))

    made.refresh_from_db()
    assert made.ended_by == org["hr"] and made.ended_at is not None
    assert 'name="ends_on"' not in page.content.decode()  # read-only once stored
    delete = reverse("admin:approvals_delegation_delete", args=[made.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Delegation.objects.filter(pk=made.pk).exists()
