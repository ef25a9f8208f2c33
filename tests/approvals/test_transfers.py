"""Issue 21 (5): a transfer request moves money between two budgets of the year (person →
project, pool → person, project → project) with both sides' owners and approvers in its chain,
posted as one pair of entries on the final approval."""

import re
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.contrib.auth.models import Group
from django.db import close_old_connections, connection
from django.urls import reverse

from approvals.models import ApprovalRequest, RequestKind, RequestState, StepRole
from approvals.services import request_decide, request_submit
from budgets.models import Budget, EntryKind, LedgerEntry
from budgets.services import budget_allocate, budget_create
from common.errors import AllotError
from people.roles import FINANCE
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, ProjectFactory, UserFactory

K = 10**6


@pytest.fixture
def org(db):
    director = EmployeeFactory(user__email="director@example.com")
    manager = EmployeeFactory(user__email="manager@example.com", manager=director)
    engineer = EmployeeFactory(user__email="eng@example.com", manager=manager, team=manager.team)
    manager.team.lead = manager
    manager.team.save()
    cto = EmployeeFactory(user__email="cto@example.com")
    lead = EmployeeFactory(user__email="lead@example.com", manager=cto)
    project = ProjectFactory(lead=lead)
    project.members.add(engineer)
    other = ProjectFactory(lead=engineer)
    finance = UserFactory(username="fin@example.com")
    finance.groups.add(Group.objects.get(name=FINANCE))
    year = current_fiscal_year()
    budgets = {
        "engineer": budget_create(fiscal_year=year, employee=engineer)[0],
        "pool": budget_create(fiscal_year=year, team=manager.team)[0],
        "project": budget_create(fiscal_year=year, project=project)[0],
        "other": budget_create(fiscal_year=year, project=other)[0],
    }
    for budget in budgets.values():
        budget_allocate(budget=budget, amount_micros=1_000 * K, acting_user=None)
    return {
        "director": director,
        "manager": manager,
        "engineer": engineer,
        "cto": cto,
        "lead": lead,
        "finance": finance,
        **{f"{name}_budget": budget for name, budget in budgets.items()},
    }


def transfer(org, source, destination, dollars, requester="engineer"):
    return request_submit(
        kind=RequestKind.TRANSFER,
        requester=org[requester].user,
        amount_micros=dollars * K,
        reason="the migration moves to the project",
        details={
            "source": org[f"{source}_budget"].pk,
            "destination": org[f"{destination}_budget"].pk,
        },
    )


def chain_of(request):
    return [(s.role, s.approver and s.approver.email) for s in request.steps.order_by("index")]


def approve_all(request, org):
    for step in request.steps.order_by("index"):
        request_decide(request=request, user=step.approver or org["finance"], approve=True)
    request.refresh_from_db()
    return request


def allocated(org, name):
    return Budget.objects.get(pk=org[f"{name}_budget"].pk).allocated_micros


def test_person_to_project_asks_both_sides_and_posts_one_pair(org):
    request = transfer(org, "engineer", "project", 300)

    # the engineer asked (their consent); their manager, then the project's lead and theirs
    assert chain_of(request) == [
        (StepRole.MANAGER, "manager@example.com"),
        (StepRole.OWNER, "lead@example.com"),
        (StepRole.MANAGER, "cto@example.com"),
    ]
    assert request.details["source_label"] == f"{org['engineer']}'s budget"
    approve_all(request, org)

    assert request.state == RequestState.APPROVED
    into, out = LedgerEntry.objects.filter(
        kind__in=[EntryKind.TRANSFER_OUT, EntryKind.TRANSFER_IN]
    ).order_by("kind")
    assert (into.kind, into.amount_micros, into.budget_id) == (
        EntryKind.TRANSFER_IN,
        300 * K,
        org["project_budget"].pk,
    )
    assert (out.amount_micros, out.budget_id) == (-300 * K, org["engineer_budget"].pk)
    assert into.counterpart_id == out.pk and into.acting_user == org["cto"].user
    assert f"request #{request.pk}" in out.memo
    assert (allocated(org, "engineer"), allocated(org, "project")) == (700 * K, 1_300 * K)
    # a second click of the last approver moves nothing more
    request_decide(request=request, user=org["cto"].user, approve=True)
    assert LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_OUT).count() == 1


def test_pool_to_person_and_project_to_project(org):
    # the team lead gives pool money to a member: the lead's manager, then the member consents
    to_person = transfer(org, "pool", "engineer", 200, requester="manager")
    assert chain_of(to_person) == [
        (StepRole.MANAGER, "director@example.com"),
        (StepRole.OWNER, "eng@example.com"),
    ]
    approve_all(to_person, org)
    # the engineer leads the other project and gives part of it to the project they are on
    between = transfer(org, "other", "project", 150)
    assert chain_of(between)[1:] == [
        (StepRole.OWNER, "lead@example.com"),
        (StepRole.MANAGER, "cto@example.com"),
    ]
    approve_all(between, org)
    assert [allocated(org, name) for name in ("pool", "engineer", "other", "project")] == [
        800 * K,
        1_200 * K,
        850 * K,
        1_150 * K,
    ]
    # above $10,000 finance decides too (the second tier), once for both sides
    budget_allocate(budget=org["engineer_budget"], amount_micros=20_000 * K, acting_user=None)
    big = transfer(org, "engineer", "project", 15_000)
    assert [role for role, _ in chain_of(big)].count(StepRole.FINANCE) == 1


def test_nobody_decides_a_transfer_from_their_own_budget(org):
    request = transfer(org, "engineer", "project", 100)
    with pytest.raises(AllotError):
        request_decide(request=request, user=org["engineer"].user, approve=True)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"amount_micros": 1_001 * K}, "amount", "has $1,000.00 left to move"),
        ({"destination": "engineer"}, "destination", "two different budgets"),
        ({"source": None}, "source", "Choose the budget"),
        ({"source": "last_year"}, "source", "transfers move this year's money"),
    ],
)
def test_bad_transfers_are_refused_on_their_field(org, change, field, message):
    last_year, _ = budget_create(fiscal_year=current_fiscal_year() - 1, employee=org["engineer"])
    sides = {"source": org["engineer_budget"].pk, "destination": org["project_budget"].pk}
    named = {"engineer": org["engineer_budget"].pk, "last_year": last_year.pk, None: None}
    for side in ("source", "destination"):
        if side in change:
            sides[side] = named[change[side]]
    with pytest.raises(AllotError, match=re.escape(message)) as refused:
        request_submit(
            kind=RequestKind.TRANSFER,
            requester=org["engineer"].user,
            amount_micros=change.get("amount_micros", 500 * K),
            reason="moving",
            details=sides,
        )
    assert refused.value.field == field
    assert not ApprovalRequest.objects.exists()


def test_a_source_spent_meanwhile_refuses_the_approval_and_moves_nothing(org):
    request = transfer(org, "engineer", "project", 800)
    request_decide(request=request, user=org["manager"].user, approve=True)
    request_decide(request=request, user=org["lead"].user, approve=True)
    # meanwhile most of the source is moved elsewhere by an approved transfer
    approve_all(transfer(org, "engineer", "other", 500), org)
    with pytest.raises(AllotError, match="more than it has left"):
        request_decide(request=request, user=org["cto"].user, approve=True)
    request.refresh_from_db()
    assert request.state == RequestState.IN_REVIEW
    assert allocated(org, "project") == 1_000 * K


def test_the_form_offers_this_years_budgets_and_submits_a_transfer(client, org):
    client.force_login(org["engineer"].user)
    page = client.get(reverse("approvals:requests")).content.decode()
    assert "From (transfer)" in page and "Transfer between budgets" in page
    assert f'value="{org["pool_budget"].pk}"' in page  # their team's pool, as a destination
    missing = client.post(
        reverse("approvals:requests"),
        {"kind": "transfer", "source": org["engineer_budget"].pk, "amount": "50", "reason": "x"},
    )
    assert "Choose where the money goes." in missing.content.decode()
    # someone else's budget is no source of theirs: refused on the field, not a 500
    foreign = client.post(
        reverse("approvals:requests"),
        {
            "kind": "transfer",
            "source": org["project_budget"].pk,
            "destination": org["other_budget"].pk,
            "amount": "50",
            "reason": "x",
        },
    )
    assert foreign.status_code == 200 and "Select a valid choice" in foreign.content.decode()
    created = client.post(
        reverse("approvals:requests"),
        {
            "kind": "transfer",
            "source": org["engineer_budget"].pk,
            "destination": org["project_budget"].pk,
            "amount": "50",
            "reason": "agents for the project",
        },
    )
    request = ApprovalRequest.objects.get()
    assert created.status_code == 302 and request.kind == RequestKind.TRANSFER
    assert request.details["destination"] == org["project_budget"].pk
    client.force_login(org["manager"].user)
    client.post(reverse("approvals:decide", args=[request.pk]), {"decision": "approve"})
    assert chain_of(request)[0] == (StepRole.MANAGER, "manager@example.com")
    assert request.steps.get(index=0).state == "approved"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs concurrent PostgreSQL sessions"
)
def test_two_transfers_out_of_one_budget_at_once_never_overdraw_it(org):
    # given two $700 transfers out of the engineer's $1,000, each waiting for its last step
    first = transfer(org, "engineer", "project", 700)
    second = transfer(org, "engineer", "project", 700)
    for request in (first, second):
        request_decide(request=request, user=org["manager"].user, approve=True)
        request_decide(request=request, user=org["lead"].user, approve=True)
    barrier = Barrier(2)

    def decide(request):
        barrier.wait()
        try:
            return request_decide(request=request, user=org["cto"].user, approve=True).state
        except AllotError as error:
            return error.code
        finally:
            close_old_connections()
            connection.close()

    # when the last approver approves both at the same moment (two sessions)
    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(decide, [first, second]), key=str)

    # then one moves its pair of entries and the other is refused: the source never goes
    # below what it has committed
    assert outcomes == [RequestState.APPROVED, "insufficient"]
    assert (allocated(org, "engineer"), allocated(org, "project")) == (300 * K, 1_700 * K)
    assert LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_OUT).count() == 1
    assert LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_IN).count() == 1
    states = sorted(ApprovalRequest.objects.values_list("state", flat=True))
    assert states == [RequestState.APPROVED, RequestState.IN_REVIEW]
