from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, Q, QuerySet

from approvals.delegation import StandingIn, delegation_refusal, standing_in_for
from approvals.models import (
    HR_KINDS,
    ApprovalRequest,
    ApprovalStep,
    Delegation,
    RequestState,
    StepState,
)
from approvals.services import GROUP_ROLES
from people.selectors import company_today, user_can_see_employee


def _stand_in_steps(standing_in: StandingIn) -> Q:
    """Steps a stand-in may decide for the people they stand in for today."""
    return (Q(approver_id__in=standing_in.delegators) & ~Q(request__kind__in=HR_KINDS)) | Q(
        approver_id__in=standing_in.offer_delegators, request__kind__in=HR_KINDS
    )


def inbox_steps(*, user: AbstractBaseUser) -> QuerySet[ApprovalStep]:
    """Steps waiting for this person: theirs, those of people they stand in for today (while
    the delegation still qualifies), and group steps of their groups; never their own requests
    or requests for themselves."""
    mine = Q(approver_id=user.pk) | _stand_in_steps(standing_in_for(user=user, day=company_today()))
    groups = list(user.groups.values_list("name", flat=True))
    roles = [role for role, group in GROUP_ROLES.items() if group in groups]
    if roles:
        mine |= Q(approver__isnull=True, role__in=roles)
    # Not a step of a request they approved an earlier step of: one person, one step.
    approved_before = ApprovalStep.objects.filter(
        request_id=OuterRef("request_id"), index__lt=OuterRef("index"), state=StepState.APPROVED
    ).filter(Q(decided_by=user) | Q(on_behalf_of=user))
    return (
        ApprovalStep.objects.filter(mine, state=StepState.PENDING)
        .filter(request__state=RequestState.IN_REVIEW)
        .exclude(request__requester=user)
        .exclude(request__employee__user=user)
        .exclude(Exists(approved_before))
        .select_related("request__requester", "request__employee__user", "approver")
        .order_by("assigned_at")
    )


def decided_by(*, user: AbstractBaseUser, limit: int = 20) -> QuerySet[ApprovalStep]:
    return (
        ApprovalStep.objects.filter(decided_by=user)
        .select_related("request__requester", "request__employee__user")
        .order_by("-decided_at")[:limit]
    )


def user_can_see_request(user: AbstractBaseUser, request: ApprovalRequest) -> bool:
    """The requester, the person it is for and those who can see them (their managers, HR,
    finance), and anyone it was routed to (or their delegate)."""
    if not user.is_authenticated:
        return False
    if user.pk == request.requester_id or user.is_superuser:
        return True
    if request.employee_id and user_can_see_employee(user, request.employee):
        return True
    if request.steps.filter(Q(approver=user) | Q(decided_by=user)).exists():
        return True
    return inbox_steps(user=user).filter(request=request).exists()


class GivenDelegation(NamedTuple):
    delegation: Delegation
    status: str  # "in force", or why it gives no power today
    may_end: bool  # not ended and not over yet: the delegator can still end it


def delegations_given(*, user: AbstractBaseUser, limit: int = 10) -> list[GivenDelegation]:
    """This person's delegations, newest first, each with whether it gives power today."""
    today = company_today()
    rows = []
    for delegation in (
        Delegation.objects.filter(delegator_id=user.pk)
        .select_related("delegator", "delegate")
        .order_by("-starts_on", "-pk")[:limit]
    ):
        refusal = delegation_refusal(delegation, day=today)
        rows.append(
            GivenDelegation(
                delegation=delegation,
                status=refusal or "In force today.",
                may_end=delegation.ended_at is None and delegation.ends_on >= today,
            )
        )
    return rows
