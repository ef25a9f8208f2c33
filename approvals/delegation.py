"""Who may stand in for an approver, and which stored delegations give power on a day.

HR's company settings say how long a delegation may run and who qualifies. A delegation is
checked against them when it is made (`approvals.delegation_services.delegation_create`) and
again whenever it would give power (the inbox, `may_decide`, who sees a request): one made
under older rules, or whose stand-in no longer qualifies, decides nothing."""

from datetime import date, timedelta
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from approvals.models import Delegation
from people.models import CompanySettings, Employee, StandInRule
from people.roles import HR, has_role
from people.selectors import company_settings

_MAX_HOPS = 50


class StandingIn(NamedTuple):
    """Whose steps someone may decide today: any step, and offer steps."""

    delegators: list[int]
    offer_delegators: list[int]


def _employee(user: AbstractBaseUser) -> Employee | None:
    return Employee.objects.select_related("level", "user").filter(user_id=user.pk).first()


def _chain_above(employee: Employee) -> set[int]:
    """The user ids of everyone above someone in the management chain."""
    above, manager, hops = set(), employee.manager, 0
    while manager is not None and hops < _MAX_HOPS:
        above.add(manager.user_id)
        manager, hops = manager.manager, hops + 1
    return above


def _name(user: AbstractBaseUser) -> str:
    return user.get_full_name() or user.get_username()


def stand_in_refusal(
    *,
    delegator: AbstractBaseUser,
    delegate: AbstractBaseUser,
    offers: bool = False,
    settings_row: CompanySettings | None = None,
) -> str:
    """Why `delegate` may not decide for `delegator` under the company's rule (empty when they
    may). With `offers`, for offer steps: the stand-in must also be someone who may see offers,
    HR or a manager."""
    rule = (settings_row or company_settings()).delegation_stand_ins
    stand_in = _employee(delegate)
    if stand_in is None or not stand_in.is_active:
        return f"{_name(delegate)} is not an active colleague."
    approver = _employee(delegator)
    if approver is None:
        return "Only someone in the organisation chart has approvals to hand on."
    in_chain = stand_in.user_id in _chain_above(approver)
    at_level = stand_in.level.rank >= approver.level.rank
    manages = in_chain or Employee.objects.filter(manager=stand_in, is_active=True).exists()
    if rule == StandInRule.CHAIN and not in_chain:
        return (
            f"{_name(delegate)} cannot stand in for {_name(delegator)}: the company lets only "
            "someone above them in their management chain stand in."
        )
    if rule == StandInRule.ANYONE_AT_LEVEL and not (in_chain or at_level):
        return (
            f"{_name(delegate)} cannot stand in for {_name(delegator)}: choose someone at "
            f"level {approver.level} or above, or someone above them in their management chain."
        )
    if rule == StandInRule.MANAGERS_AT_LEVEL and not (in_chain or (manages and at_level)):
        return (
            f"{_name(delegate)} cannot stand in for {_name(delegator)}: choose a manager at "
            f"level {approver.level} or above, or someone above them in their management chain."
        )
    if offers and not (manages or has_role(delegate, HR)):
        return f"{_name(delegate)} may not see offers: offer approvals stay with the approver."
    return ""


def last_day_allowed(starts_on: date, *, settings_row: CompanySettings | None = None) -> date:
    """The last day a delegation starting on `starts_on` may give power."""
    days = (settings_row or company_settings()).delegation_max_days
    try:
        return starts_on + timedelta(days=days - 1)
    except OverflowError:
        return date.max


def window_refusal(
    *, starts_on: date, ends_on: date, settings_row: CompanySettings | None = None
) -> str:
    """Why a delegation for these days is too long (empty when it is not)."""
    settings_row = settings_row or company_settings()
    last = last_day_allowed(starts_on, settings_row=settings_row)
    if ends_on <= last:
        return ""
    return (
        f"A stand-in decides for at most {settings_row.delegation_max_days} days: "
        f"end it on {last.isoformat()} at the latest."
    )


def delegation_refusal(delegation: Delegation, *, day: date, offers: bool = False) -> str:
    """Why this stored delegation gives no power on `day` (empty when it does)."""
    settings_row = company_settings()
    if delegation.ended_at is not None:
        return f"It was ended on {timezone.localdate(delegation.ended_at).isoformat()}."
    if day < delegation.starts_on:
        return f"It starts on {delegation.starts_on.isoformat()}."
    last = min(
        delegation.ends_on, last_day_allowed(delegation.starts_on, settings_row=settings_row)
    )
    if day > last:
        if last < delegation.ends_on:
            return (
                f"It runs past the company's {settings_row.delegation_max_days}-day limit, "
                f"which ended on {last.isoformat()}."
            )
        return f"It ended on {delegation.ends_on.isoformat()}."
    return stand_in_refusal(
        delegator=delegation.delegator,
        delegate=delegation.delegate,
        offers=offers,
        settings_row=settings_row,
    )


def standing_in_for(*, user: AbstractBaseUser, day: date) -> StandingIn:
    """Whose steps `user` may decide on `day` as their stand-in, checked against today's rules
    (a delegation stored under older ones, or to someone who no longer qualifies, counts not)."""
    if not user.is_authenticated:
        return StandingIn([], [])
    stored = Delegation.objects.filter(
        delegate_id=user.pk, ended_at__isnull=True, starts_on__lte=day, ends_on__gte=day
    ).select_related("delegator", "delegate")
    delegators, offer_delegators = [], []
    sees_offers = None  # whether the stand-in may see offers anyway: asked once, not per delegation
    for delegation in stored:
        if delegation_refusal(delegation, day=day):
            continue
        delegators.append(delegation.delegator_id)
        if sees_offers is None:
            sees_offers = has_role(user, HR) or _manages_anyone(user)
        if sees_offers or not delegation_refusal(delegation, day=day, offers=True):
            offer_delegators.append(delegation.delegator_id)
    return StandingIn(delegators, offer_delegators)


def _manages_anyone(user: AbstractBaseUser) -> bool:
    return Employee.objects.filter(manager__user_id=user.pk, is_active=True).exists()
