"""What approvals tell people, by kind: the request waiting (with the link to decide it), the
request decided, the stand-in's delegation; and marking done what a decision answered.

A waiting message's target names the request and step ("approvals.request:5:step:0"): once the
step is decided, moved up, or the request leaves review, every message about it is done."""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.urls import reverse

from approvals.models import ApprovalRequest, ApprovalStep, Delegation
from notifications.kinds import Kind
from notifications.services import notifications_done, notify
from notifications.webhooks import webhook_publish


def step_target(request: ApprovalRequest, index: int) -> str:
    return f"approvals.request:{request.pk}:step:{index}"


def request_target_prefix(request: ApprovalRequest) -> str:
    return f"approvals.request:{request.pk}:"


def tell_waiting(
    users: Iterable[AbstractBaseUser | None],
    request: ApprovalRequest,
    step: ApprovalStep,
    message: str,
) -> None:
    """A request waits for these people's decision: the link opens the request to decide it."""
    notify(
        users,
        message,
        kind=Kind.REQUEST_WAITING,
        subject=f"Allot: {request} waits for your decision",
        link=reverse("approvals:detail", args=[request.pk]),
        target=step_target(request, step.index),
    )


def tell_requester(request: ApprovalRequest, outcome: str, message: str) -> None:
    """The requester hears how their request ended (approved, rejected, expired), and so do the
    integrators' webhooks that want it."""
    webhook_publish(
        "request.decided",
        {
            "request_id": request.pk,
            "kind": request.kind,
            "state": request.state,
            "outcome": outcome,
            "amount_micros": request.amount_micros,
            "fiscal_year": request.fiscal_year,
        },
    )
    notify(
        [request.requester],
        message,
        kind=Kind.REQUEST_DECIDED,
        subject=f"Allot: {request} was {outcome}",
        link=reverse("approvals:detail", args=[request.pk]),
    )


def step_done(request: ApprovalRequest, step: ApprovalStep, note: str) -> None:
    """The messages asking for this step's decision are answered."""
    notifications_done(target=step_target(request, step.index), note=note)


def request_done(request: ApprovalRequest, note: str) -> None:
    """The request left review: every message asking about it is answered."""
    notifications_done(target=request_target_prefix(request), note=note, prefix=True)


def tell_delegate(delegation: Delegation) -> None:
    """The stand-in hears that, and from when to when, they decide for someone."""
    notify(
        [delegation.delegate],
        f"From {delegation.starts_on:%b %-d, %Y} to {delegation.ends_on:%b %-d, %Y} you decide "
        f"the requests waiting for {delegation.delegator}"
        + (f" ({delegation.reason})." if delegation.reason else "."),
        kind=Kind.DELEGATION,
        subject=f"Allot: you stand in for {delegation.delegator} from "
        f"{delegation.starts_on:%b %-d}",
        link=reverse("approvals:inbox"),
        target=f"approvals.delegation:{delegation.pk}",
    )
