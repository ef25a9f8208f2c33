"""Issue 21 (2): the auto-approval tier. A rule approves on its own up to its amount per request
and its yearly cap per person, recorded as approved by the rule with its reason; above either,
the normal chain."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection
from django.urls import reverse
from django_fsm_log.models import StateLog

from approvals.models import ApprovalRequest, ApprovalRule, RequestKind, RequestState, StepRole
from approvals.services import request_submit
from budgets.models import Budget, EntryKind, LedgerEntry
from notifications.models import Notification
from tests.factories import EmployeeFactory, hr_user

K = 10**6


@pytest.fixture
def chain(db):
    manager = EmployeeFactory(user__email="manager@example.com")
    engineer = EmployeeFactory(user__email="eng@example.com", manager=manager)
    rule = ApprovalRule.objects.create(
        kind=RequestKind.INCREASE,
        max_amount_micros=1_000 * K,
        yearly_cap_micros=5_000 * K,
        auto_approve=True,
        steps=["manager"],
    )
    return {"manager": manager, "engineer": engineer, "rule": rule}


def top_up(chain, dollars, employee=None):
    employee = employee or chain["engineer"]
    return request_submit(
        kind=RequestKind.INCREASE,
        requester=employee.user,
        employee=employee,
        amount_micros=dollars * K,
        reason="a few more agent runs",
    )


def test_a_small_request_is_approved_by_the_rule_with_its_reason(chain):
    request = top_up(chain, 800)

    assert request.state == RequestState.APPROVED
    (step,) = request.steps.all()
    assert step.role == StepRole.RULE and step.decided_by is None
    assert step.decision_label == "approved by the rule"
    assert step.comment.startswith("Approved by the rule: up to $1,000.00 a request and $5,000.00")
    assert "$800.00 of it used" in step.comment
    # the money moved once, by nobody in person, and the state log says why
    entry = LedgerEntry.objects.get(kind=EntryKind.APPROVED_INCREASE)
    assert entry.amount_micros == 800 * K and entry.acting_user is None
    assert Budget.objects.get(employee=chain["engineer"]).allocated_micros == 800 * K
    log = StateLog.objects.for_(request).latest("timestamp")
    assert log.state == RequestState.APPROVED and log.description == step.comment
    assert Notification.objects.filter(
        user=chain["engineer"].user, message__contains="approved by the rule"
    ).exists()


def test_the_yearly_cap_per_person_sends_the_rest_to_the_normal_chain(chain):
    # given $4,800 already auto-approved this year for the engineer
    outcomes = [top_up(chain, dollars).state for dollars in (800, 1_000, 1_000, 1_000, 1_000)]
    assert outcomes == [RequestState.APPROVED] * 5
    # when the next $1,000 would pass the $5,000 cap, the rule's own chain decides
    over = top_up(chain, 1_000)
    assert over.state == RequestState.IN_REVIEW
    assert [(s.role, s.approver) for s in over.steps.all()] == [("manager", chain["manager"].user)]
    # but $200 still fits
    assert top_up(chain, 200).state == RequestState.APPROVED
    # and someone else has their own cap
    colleague = EmployeeFactory(manager=chain["manager"])
    assert top_up(chain, 1_000, employee=colleague).state == RequestState.APPROVED
    assert Budget.objects.get(employee=chain["engineer"]).allocated_micros == 5_000 * K


def test_above_the_rule_amount_the_next_rule_applies(chain):
    request = top_up(chain, 1_001)
    assert request.state == RequestState.IN_REVIEW
    assert [s.role for s in request.steps.all()] == ["manager"]  # the $10,000 rule
    assert not LedgerEntry.objects.filter(kind=EntryKind.APPROVED_INCREASE).exists()


def test_a_manual_ledger_entry_or_an_offer_never_gets_an_auto_rule(chain):
    for kind in (RequestKind.LEDGER_ENTRY, RequestKind.OFFER):
        rule = ApprovalRule(
            kind=kind,
            max_amount_micros=5 * K,
            yearly_cap_micros=10 * K,
            auto_approve=True,
            steps=["finance"],
        )
        with pytest.raises(ValidationError) as refused:
            rule.full_clean()
        assert "auto_approve" in refused.value.message_dict
    without_cap = ApprovalRule(
        kind=RequestKind.TEAM_TOPUP, max_amount_micros=5 * K, auto_approve=True, steps=["manager"]
    )
    with pytest.raises(ValidationError) as refused:
        without_cap.full_clean()
    assert "yearly_cap_micros" in refused.value.message_dict
    # the rule's own step is not one a chain may name
    with pytest.raises(ValidationError, match="'rule' is not a step"):
        ApprovalRule(
            kind=RequestKind.INCREASE, max_amount_micros=7 * K, steps=["rule"]
        ).full_clean()


def test_hr_sets_up_the_tier_in_the_admin_and_the_request_page_shows_the_rule(client, chain):
    chain["rule"].delete()
    client.force_login(hr_user())
    response = client.post(
        reverse("admin:approvals_approvalrule_add"),
        {
            "kind": "team_topup",
            "max_amount_micros": "500",
            "steps": '["manager"]',
            "auto_approve": "on",
            "yearly_cap_micros": "2000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = ApprovalRule.objects.get(kind=RequestKind.TEAM_TOPUP, auto_approve=True)
    assert (rule.max_amount_micros, rule.yearly_cap_micros) == (500 * K, 2_000 * K)
    listing = client.get(reverse("admin:approvals_approvalrule_changelist")).content.decode()
    assert "$2,000.00" in listing
    # a team lead's top-up under it is approved by the rule; the page says so
    team = chain["engineer"].team
    team.lead = chain["engineer"]
    team.save()
    client.force_login(chain["engineer"].user)
    client.post(
        reverse("approvals:requests"),
        {"kind": "team_topup", "team": team.pk, "amount": "300", "reason": "pool for the sprint"},
    )
    request = ApprovalRequest.objects.get(kind=RequestKind.TEAM_TOPUP)
    assert request.state == RequestState.APPROVED
    assert Budget.objects.get(team=team).allocated_micros == 300 * K
    page = client.get(request.get_absolute_url()).content.decode()
    assert "Approved by rule" in page and "approved by the rule" in page


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs concurrent PostgreSQL sessions"
)
def test_two_requests_at_once_never_pass_the_yearly_cap_together(chain):
    ApprovalRule.objects.filter(pk=chain["rule"].pk).update(yearly_cap_micros=1_000 * K)
    barrier = Barrier(2)

    def submit(_):
        barrier.wait()
        try:
            return top_up(chain, 600).state
        finally:
            close_old_connections()
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(submit, range(2)))

    assert outcomes == [RequestState.APPROVED, RequestState.IN_REVIEW]
    assert Budget.objects.get(employee=chain["engineer"]).allocated_micros == 600 * K
