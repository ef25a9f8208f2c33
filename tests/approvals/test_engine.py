from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import close_old_connections, connection
from django.utils import timezone

from approvals.models import (
    ApprovalRequest,
    Delegation,
    RequestKind,
    RequestState,
    StepRole,
    StepState,
)
from approvals.services import (
    approvals_escalate,
    approvals_expire,
    may_decide,
    request_decide,
    request_submit,
    request_withdraw,
)
from budgets.ledger.keys import approval_request_key
from budgets.models import Budget, EntryKind, LedgerEntry
from common.errors import AllotError
from people.roles import FINANCE
from people.selectors import company_today
from tests.factories import EmployeeFactory, TeamFactory, UserFactory

K = 10**6  # micros per dollar


@pytest.fixture
def chain(db):
    """director <- manager <- engineer, and a finance person."""
    director = EmployeeFactory(user__email="director@example.com")
    manager = EmployeeFactory(user__email="manager@example.com", manager=director)
    engineer = EmployeeFactory(user__email="eng@example.com", manager=manager)
    finance = UserFactory(username="fin@example.com")
    finance.groups.add(Group.objects.get(name=FINANCE))
    return {"director": director, "manager": manager, "engineer": engineer, "finance": finance}


def increase(chain, dollars, *, requester=None, **extra):
    return request_submit(
        kind=RequestKind.INCREASE,
        requester=requester or chain["engineer"].user,
        employee=chain["engineer"],
        amount_micros=dollars * K,
        reason="agents for the migration",
        **extra,
    )


def steps_of(request):
    return [(s.role, s.approver and s.approver.email) for s in request.steps.order_by("index")]


@pytest.mark.parametrize(
    ("dollars", "expected"),
    [
        (5_000, [("manager", "manager@example.com")]),
        (10_000, [("manager", "manager@example.com")]),
        (
            20_000,
            [("manager", "manager@example.com"), ("skip_level", "director@example.com")],
        ),
        (
            80_000,
            [
                ("manager", "manager@example.com"),
                ("skip_level", "director@example.com"),
                ("finance", None),
            ],
        ),
    ],
)
def test_the_chain_follows_the_amount_tiers(chain, dollars, expected):
    request = increase(chain, dollars)
    assert request.state == RequestState.IN_REVIEW
    assert steps_of(request) == expected


def test_a_manager_asking_for_their_report_does_not_approve_it_themselves(chain):
    request = increase(chain, 5_000, requester=chain["manager"].user)
    # the manager step resolves to the requester, so it goes to the next person up
    assert steps_of(request) == [("manager", "director@example.com")]
    with pytest.raises(AllotError, match="cannot decide"):
        request_decide(request=request, user=chain["manager"].user, approve=True)


def test_nobody_approves_their_own_request_even_by_group(chain):
    chain["engineer"].user.groups.add(Group.objects.get(name=FINANCE))
    request = increase(chain, 80_000)
    request_decide(request=request, user=chain["manager"].user, approve=True)
    request_decide(request=request, user=chain["director"].user, approve=True)
    with pytest.raises(AllotError):
        request_decide(request=request, user=chain["engineer"].user, approve=True)


def test_final_approval_posts_the_increase_once(chain):
    request = increase(chain, 20_000)
    request_decide(request=request, user=chain["manager"].user, approve=True, comment="ok")
    assert not LedgerEntry.objects.filter(kind=EntryKind.APPROVED_INCREASE).exists()

    request_decide(request=request, user=chain["director"].user, approve=True)
    request_decide(request=request, user=chain["director"].user, approve=True)  # double click

    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    entry = LedgerEntry.objects.get(kind=EntryKind.APPROVED_INCREASE)
    assert entry.amount_micros == 20_000 * K and entry.acting_user == chain["director"].user
    # keyed by the kernel's key builder, as every other writer that answers a request
    assert entry.idempotency_key == approval_request_key(request.pk)
    budget = Budget.objects.get(employee=chain["engineer"])
    assert budget.allocated_micros == 20_000 * K


def test_a_rejection_needs_a_comment_and_moves_no_money(chain):
    request = increase(chain, 5_000)
    with pytest.raises(AllotError, match="Say why"):
        request_decide(request=request, user=chain["manager"].user, approve=False)
    request_decide(request=request, user=chain["manager"].user, approve=False, comment="no")
    request.refresh_from_db()
    assert request.state == RequestState.REJECTED
    assert not LedgerEntry.objects.exists()
    with pytest.raises(AllotError, match="already rejected"):
        request_decide(request=request, user=chain["manager"].user, approve=True)


def test_delegation_applies_inside_its_window_and_not_outside(chain):
    stand_in = EmployeeFactory(user__email="standin@example.com")  # a manager at their level
    EmployeeFactory(manager=stand_in)
    today = company_today()
    Delegation.objects.create(
        delegator=chain["manager"].user,
        delegate=stand_in.user,
        starts_on=today + timedelta(days=1),
        ends_on=today + timedelta(days=5),
    )
    request = increase(chain, 5_000)
    with pytest.raises(AllotError):
        request_decide(request=request, user=stand_in.user, approve=True)  # window not open

    with time_machine.travel(timezone.now() + timedelta(days=2)):
        request_decide(request=request, user=stand_in.user, approve=True)
    step = request.steps.get()
    assert step.decision_label.endswith("on behalf of Test " + chain["manager"].user.last_name)
    assert step.on_behalf_of == chain["manager"].user


def test_the_requester_withdraws_and_others_cannot(chain):
    request = increase(chain, 5_000)
    with pytest.raises(AllotError, match="Only the requester"):
        request_withdraw(request=request, user=chain["manager"].user)
    request_withdraw(request=request, user=chain["engineer"].user)
    request.refresh_from_db()
    assert request.state == RequestState.WITHDRAWN


def test_a_stale_step_escalates_one_level_and_a_late_request_expires(chain):
    request = increase(chain, 5_000, until=company_today() + timedelta(days=10))
    with time_machine.travel(timezone.now() + timedelta(days=4)):
        assert approvals_escalate() == 1
    step = request.steps.get()
    assert step.approver == chain["director"].user
    assert step.escalated_from == chain["manager"].user
    assert step.state == StepState.PENDING

    with time_machine.travel(timezone.now() + timedelta(days=11)):
        assert approvals_expire() == 1
    request.refresh_from_db()
    assert request.state == RequestState.EXPIRED


def test_a_step_whose_approver_left_goes_to_the_next_person_up(chain):
    request = increase(chain, 5_000)
    chain["manager"].is_active = False
    chain["manager"].save()
    assert approvals_escalate() == 1
    assert request.steps.get().approver == chain["director"].user


def test_a_team_topup_fills_the_pool(chain):
    team = TeamFactory()
    request = request_submit(
        kind=RequestKind.TEAM_TOPUP,
        requester=chain["engineer"].user,
        team=team,
        amount_micros=3_000 * K,
        reason="pairing sessions",
    )
    assert steps_of(request)[0] == (StepRole.MANAGER, "manager@example.com")
    request_decide(request=request, user=chain["manager"].user, approve=True)
    assert Budget.objects.get(team=team).allocated_micros == 3_000 * K


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs concurrent PostgreSQL sessions"
)
def test_two_approvers_at_once_post_the_ledger_entries_exactly_once(chain):
    request = increase(chain, 5_000)
    Delegation.objects.create(
        delegator=chain["manager"].user,
        delegate=chain["director"].user,
        starts_on=company_today(),
        ends_on=company_today(),
    )
    barrier = Barrier(2)

    def decide(user):
        barrier.wait()
        try:
            return request_decide(request=request, user=user, approve=True).state
        except AllotError as error:
            return error.message
        finally:
            close_old_connections()
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(decide, [chain["manager"].user, chain["director"].user]))

    assert RequestState.APPROVED in outcomes
    assert LedgerEntry.objects.filter(kind=EntryKind.APPROVED_INCREASE).count() == 1
    assert ApprovalRequest.objects.get(pk=request.pk).state == RequestState.APPROVED


def test_hr_edits_rules_and_reads_requests_in_the_admin(client, chain):
    from django.urls import reverse

    from tests.factories import hr_user

    request = increase(chain, 5_000)
    client.force_login(hr_user())
    assert client.get(reverse("admin:approvals_approvalrule_changelist")).status_code == 200
    page = client.get(reverse("admin:approvals_approvalrequest_change", args=[request.pk]))
    assert page.status_code == 200
    assert chain["manager"].user.username.encode() in page.content
    client.force_login(chain["engineer"].user)
    assert client.get(reverse("admin:approvals_approvalrule_changelist")).status_code == 302


def test_the_beat_tasks_run_the_escalation_and_expiry_services(chain):
    from approvals.tasks import escalate, expire

    increase(chain, 5_000, until=company_today() + timedelta(days=1))
    with time_machine.travel(timezone.now() + timedelta(days=5)):
        assert escalate.delay().get() == 1
        assert expire.delay().get() == 1


def test_one_person_never_decides_two_steps_of_a_request(chain, client):
    # given a $20,000 increase (manager, then director) and the director's decisions delegated
    # to the manager while away
    from approvals.delegation_services import delegation_create

    request = increase(chain, 20_000)
    assert [email for _, email in steps_of(request)] == [
        "manager@example.com",
        "director@example.com",
    ]
    delegation_create(
        delegator=chain["director"].user,
        delegate_email="manager@example.com",
        starts_on=company_today(),
        ends_on=company_today() + timedelta(days=5),
    )
    request_decide(request=request, user=chain["manager"].user, approve=True)

    # then the manager cannot also approve the director's step
    with pytest.raises(AllotError, match="approved an earlier step"):
        request_decide(request=request, user=chain["manager"].user, approve=False, comment="x")
    # (a repeat approve, the second click of a double click, changes nothing)
    request_decide(request=request, user=chain["manager"].user, approve=True)
    request.refresh_from_db()
    assert request.state == RequestState.IN_REVIEW and request.current_step == 1
    assert not Budget.objects.filter(employee=chain["engineer"], allocated_micros__gt=0).exists()


def test_a_skip_level_in_finance_decides_their_step_and_not_finances_too(chain, client):
    # given an $80,000 increase (manager, director, finance) and a director who is in Finance
    from django.urls import reverse

    chain["director"].user.groups.add(Group.objects.get(name=FINANCE))
    request = increase(chain, 80_000)
    assert [role for role, _ in steps_of(request)][-1] == StepRole.FINANCE
    request_decide(request=request, user=chain["manager"].user, approve=True)

    # when the director double-clicks approve in the web form (both posts carry the step the
    # page showed)
    client.force_login(chain["director"].user)
    url = reverse("approvals:decide", args=[request.pk])
    page = client.get(request.get_absolute_url()).content.decode()
    assert 'name="step" value="1"' in page
    client.post(url, {"decision": "approve", "step": 1})
    second = client.post(url, {"decision": "approve", "step": 1}, follow=True)
    assert "Your decision is recorded." in second.content.decode()  # harmless: nothing more

    # then only their own step is approved; finance's waits for someone else in Finance,
    # is not in the director's inbox, and deciding it on purpose is refused, saying why
    request.refresh_from_db()
    assert request.state == RequestState.IN_REVIEW
    assert request.steps.get(index=request.current_step).role == StepRole.FINANCE
    inbox = client.get(reverse("approvals:inbox")).content.decode()
    assert "Nothing waits for you." in inbox
    on_purpose = client.post(url, {"decision": "approve", "step": 2}, follow=True)
    text = on_purpose.content.decode()
    assert "approved an earlier step" in text and "Your decision is recorded." not in text
    request.refresh_from_db()
    assert request.state == RequestState.IN_REVIEW
    request_decide(request=request, user=chain["finance"], approve=True)
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    assert Budget.objects.get(employee=chain["engineer"]).allocated_micros == 80_000 * K


def test_a_request_past_its_end_date_or_its_fiscal_year_cannot_be_approved(chain):
    from people.selectors import fiscal_year_period

    # given a request ending today and one for this fiscal year
    ending = increase(chain, 500, until=company_today())
    this_year = increase(chain, 700)
    end = fiscal_year_period(this_year.fiscal_year).end

    # then the day after its end date it can no longer be approved, before the nightly expiry
    with (
        time_machine.travel(timezone.now() + timedelta(days=1)),
        pytest.raises(AllotError, match="can no longer be approved"),
    ):
        request_decide(request=ending, user=chain["manager"].user, approve=True)
    # and once the fiscal year is over, neither can the other: it would add money to a year
    # nobody can spend in (and that the rollover may have closed); the nightly job expires it
    with time_machine.travel(timezone.make_aware(timezone.datetime(end.year, end.month, 2, 12))):
        with pytest.raises(AllotError, match=f"FY{this_year.fiscal_year} has ended"):
            request_decide(request=this_year, user=chain["manager"].user, approve=True)
        request_decide(request=this_year, user=chain["manager"].user, approve=False, comment="late")
        assert approvals_expire() == 1  # the other one, past its end date
    assert not LedgerEntry.objects.filter(kind=EntryKind.APPROVED_INCREASE).exists()


@pytest.mark.parametrize("cfo_configured", [False, True], ids=["superuser", "cfo"])
def test_a_finance_step_nobody_in_finance_may_decide_goes_to_the_cfo_or_a_superuser(
    chain, settings, cfo_configured
):
    # given an $80,000 increase (manager, director, finance) whose director is the only
    # Finance member, so has decided an earlier step by the time Finance's comes
    chain["finance"].groups.clear()
    director = chain["director"].user
    director.groups.add(Group.objects.get(name=FINANCE))
    superuser = UserFactory(username="root@example.com", is_superuser=True, is_staff=True)
    cfo = UserFactory(username="cfo@example.com")
    settings.ALLOT_CFO_USERNAME = "cfo@example.com" if cfo_configured else ""
    request = increase(chain, 80_000)
    assert [role for role, _ in steps_of(request)][-1] == StepRole.FINANCE
    request_decide(request=request, user=chain["manager"].user, approve=True)
    request_decide(request=request, user=director, approve=True)
    request.refresh_from_db()
    step = request.steps.get(index=request.current_step)
    assert step.role == StepRole.FINANCE and step.approver is None
    assert not may_decide(step, director)[0]

    # when the sweep runs
    assert approvals_escalate() == 1

    # then the step is the CFO's (or the superuser's), who decides it; it moves once only
    step.refresh_from_db()
    target = cfo if cfo_configured else superuser
    assert step.approver == target and step.state == StepState.PENDING
    assert approvals_escalate() == 0
    request_decide(request=request, user=target, approve=True)
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    assert Budget.objects.get(employee=chain["engineer"]).allocated_micros == 80_000 * K


def test_a_finance_step_someone_in_finance_may_decide_waits_for_them(chain):
    UserFactory(username="root@example.com", is_superuser=True, is_staff=True)
    request = increase(chain, 80_000)
    request_decide(request=request, user=chain["manager"].user, approve=True)
    request_decide(request=request, user=chain["director"].user, approve=True)
    assert approvals_escalate() == 0
    request.refresh_from_db()
    step = request.steps.get(index=request.current_step)
    assert (step.role, step.approver) == (StepRole.FINANCE, None)  # chain["finance"] may decide
