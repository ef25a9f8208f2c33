"""Reads for requests: who sees which (one rule, for every page, list and trail that shows a
request, its steps or its transitions), and whose decision waits."""

from collections.abc import Callable
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
from budgets.models import Budget
from people.models import Employee
from people.roles import FINANCE, HR, has_role
from people.selectors import company_today, current_fiscal_year, employee_ids_below

# Who, besides HR and the request's approvers, sees a request of a kind that is HR's (an offer:
# its hiring manager). The app that owns the subject registers it, as it registers the effect.
SubjectViewers = Callable[[AbstractBaseUser], Q]
_SUBJECT_VIEWERS: dict[str, SubjectViewers] = {}


def subject_viewers_register(kind: str, viewers: SubjectViewers) -> None:
    _SUBJECT_VIEWERS[kind] = viewers


def _group_roles(user: AbstractBaseUser) -> list[str]:
    groups = set(user.groups.values_list("name", flat=True))
    return [role for role, group in GROUP_ROLES.items() if group in groups]


def _stand_in_steps(standing_in: StandingIn) -> Q:
    """Steps a stand-in may decide for the people they stand in for today."""
    return (Q(approver_id__in=standing_in.delegators) & ~Q(request__kind__in=HR_KINDS)) | Q(
        approver_id__in=standing_in.offer_delegators, request__kind__in=HR_KINDS
    )


def _routed_to(user: AbstractBaseUser) -> QuerySet[ApprovalStep]:
    """Steps that are this person's: routed to them (or their group) and reached, decided by
    them, or waiting for them as a stand-in in force today."""
    reached = ~Q(state=StepState.WAITING)
    mine = (Q(approver_id=user.pk) & reached) | Q(decided_by_id=user.pk)
    roles = _group_roles(user)
    if roles:
        mine |= Q(approver__isnull=True, role__in=roles) & reached
    standing_in = standing_in_for(user=user, day=company_today())
    mine |= Q(state=StepState.PENDING) & _stand_in_steps(standing_in)
    return ApprovalStep.objects.filter(mine)


def requests_visible_to(
    user: AbstractBaseUser, requests: QuerySet[ApprovalRequest] | None = None
) -> QuerySet[ApprovalRequest]:
    """The requests (of `requests`, default all) this person may see.

    Offers are HR's: HR, the offer's hiring manager and an approver whose step it is (reached,
    or a stand-in in force) see one; nobody else, finance included. Any other request: the
    requester, the person it is for and those above them, HR and finance, and its approvers."""
    requests = ApprovalRequest.objects.all() if requests is None else requests
    if not user.is_authenticated or not user.is_active:
        return requests.none()
    if user.is_superuser:
        return requests
    routed = Q(pk__in=_routed_to(user).values("request_id"))
    if has_role(user, HR):
        hr_kinds = Q(kind__in=HR_KINDS)
    else:
        hr_kinds = Q(kind__in=HR_KINDS) & routed
        for kind in HR_KINDS:
            if kind in _SUBJECT_VIEWERS:
                hr_kinds |= Q(kind=kind) & _SUBJECT_VIEWERS[kind](user)
    if has_role(user, HR, FINANCE):
        others = ~Q(kind__in=HR_KINDS)
    else:
        others = ~Q(kind__in=HR_KINDS) & (
            Q(requester_id=user.pk)
            | Q(employee__user_id=user.pk)
            | Q(employee_id__in=employee_ids_below(user))
            | routed
        )
    return requests.filter(hr_kinds | others)


def user_can_see_request(user: AbstractBaseUser, request: ApprovalRequest) -> bool:
    return requests_visible_to(user, ApprovalRequest.objects.filter(pk=request.pk)).exists()


def inbox_steps(*, user: AbstractBaseUser) -> QuerySet[ApprovalStep]:
    """Steps waiting for this person: theirs, those of people they stand in for today (while
    the delegation still qualifies), and group steps of their groups; never their own requests
    or requests for themselves."""
    mine = Q(approver_id=user.pk) | _stand_in_steps(standing_in_for(user=user, day=company_today()))
    roles = _group_roles(user)
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


def transfer_sources(me: Employee) -> QuerySet[Budget]:
    """This year's budgets someone may offer money from: their own, their reports', the pools
    of teams they lead, the projects they lead (every owner still approves their side)."""
    mine = (
        Q(employee=me) | Q(employee__manager=me, employee__is_active=True) | Q(team__lead=me)
    ) | Q(project__lead=me)
    return _this_year(mine)


def transfer_destinations(me: Employee) -> QuerySet[Budget]:
    """This year's budgets someone may send money to: people on their team or reporting to
    them, their team's pool and those they lead, the projects they lead or are on."""
    near = (
        Q(employee=me)
        | Q(employee__manager=me, employee__is_active=True)
        | Q(employee__team_id=me.team_id, employee__is_active=True)
        | Q(team_id=me.team_id)
        | Q(team__lead=me)
        | Q(project__lead=me)
        | Q(project__members=me)
    )
    return _this_year(near)


def _this_year(owners: Q) -> QuerySet[Budget]:
    ids = Budget.objects.filter(owners, fiscal_year=current_fiscal_year()).values("pk")
    return (
        Budget.objects.filter(pk__in=ids)
        .select_related("employee__user", "team", "project")
        .order_by("project_id", "team_id", "pk")
    )
