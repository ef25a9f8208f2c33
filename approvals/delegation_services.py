"""Delegations: an approver hands their decisions to a stand-in for a date range (out of
office), checked against the company's rules (`approvals.delegation`); the stand-in is told."""

from datetime import date

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from approvals.delegation import stand_in_refusal, window_refusal
from approvals.messages import tell_delegate
from approvals.models import Delegation
from common.errors import AllotError
from people.models import Employee
from people.roles import HR, has_role
from people.selectors import company_today


def delegation_validate(
    *,
    delegator: AbstractBaseUser,
    delegate_email: str,
    starts_on: date,
    ends_on: date,
    acting_user: AbstractBaseUser | None = None,
) -> AbstractBaseUser:
    """The stand-in a delegation would go to, or an AllotError on the field that is wrong: the
    stand-in must qualify under the company's rule, for at most its longest window. Someone who
    makes a delegation for another approver (HR, in the admin) never names themselves."""
    delegate = (
        get_user_model()
        .objects.filter(email__iexact=delegate_email.strip(), employee__is_active=True)
        .first()
    )
    if delegate is None:
        raise AllotError(f"No active colleague signs in as {delegate_email!r}.", field="delegate")
    if not Employee.objects.filter(user_id=delegator.pk).exists():
        raise AllotError(
            "Only someone in the organisation chart has approvals to hand on.", field="delegator"
        )
    if delegate.pk == delegator.pk:
        raise AllotError("Choose someone other than yourself.", field="delegate")
    appoints_self = acting_user is not None and delegate.pk == acting_user.pk
    if appoints_self and acting_user.pk != delegator.pk:
        raise AllotError(
            "You cannot make yourself someone's stand-in: they delegate to you themselves.",
            field="delegate",
        )
    refusal = stand_in_refusal(delegator=delegator, delegate=delegate)
    if refusal:
        raise AllotError(refusal, field="delegate")
    if ends_on < starts_on:
        raise AllotError("The last day comes before the first.", field="ends_on")
    if ends_on < company_today():
        raise AllotError("That range is already over.", field="ends_on")
    too_long = window_refusal(starts_on=starts_on, ends_on=ends_on)
    if too_long:
        raise AllotError(too_long, field="ends_on")
    return delegate


@transaction.atomic
def delegation_create(
    *,
    delegator: AbstractBaseUser,
    delegate_email: str,
    starts_on: date,
    ends_on: date,
    reason: str = "",
    acting_user: AbstractBaseUser | None = None,
) -> Delegation:
    """An approver hands their decisions to someone else for a date range (out of office). HR
    may make one for an approver in the admin (`acting_user`); the rules are the same."""
    delegate = delegation_validate(
        delegator=delegator,
        delegate_email=delegate_email,
        starts_on=starts_on,
        ends_on=ends_on,
        acting_user=acting_user,
    )
    delegation = Delegation(
        delegator=delegator,
        delegate=delegate,
        starts_on=starts_on,
        ends_on=ends_on,
        reason=reason.strip()[:200],
    )
    delegation._history_user = acting_user or delegator
    delegation.save()
    tell_delegate(delegation)
    return delegation


def may_end_delegation(*, delegation: Delegation, user: AbstractBaseUser) -> bool:
    """The delegator ends their own delegation; HR (and superusers) any."""
    return user.is_authenticated and (user.pk == delegation.delegator_id or has_role(user, HR))


@transaction.atomic
def delegation_end(*, delegation: Delegation, acting_user: AbstractBaseUser) -> Delegation:
    """End a delegation now, before its last day: from this moment the stand-in decides
    nothing more for the delegator. Ending it twice changes nothing."""
    delegation = Delegation.objects.select_for_update().get(pk=delegation.pk)
    if not may_end_delegation(delegation=delegation, user=acting_user):
        raise AllotError("Only the approver who delegated, or HR, ends it.", code="forbidden")
    if delegation.ended_at is not None:
        return delegation
    if delegation.ends_on < company_today():
        raise AllotError("That delegation is already over.")
    delegation.ended_at, delegation.ended_by = timezone.now(), acting_user
    delegation._history_user = acting_user
    delegation.save(update_fields=["ended_at", "ended_by"])
    return delegation
