"""One-click decisions from a message: a signed link (django.core.signing) bound to the step,
the approver it was sent to, and the request's state when it was sent, expiring after
settings.ALLOT_DECISION_LINK_DAYS.

The link opens a confirmation page that shows the request; only its POST decides (mail scanners
follow links with GET). A link is good once: the decision changes the step and the request, so
their fingerprint no longer matches and the same link, or any other sent for that state, says
so and does nothing. A request changed since the link was sent (moved on, moved up, withdrawn,
its amount edited) is refused the same way."""

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from approvals.models import ApprovalRequest, ApprovalStep, RequestState, StepState
from approvals.services import may_decide, request_decide
from common.errors import AllotError
from notifications.email import absolute_url

SALT = "approvals.decision-link"


class _Message(Protocol):
    """A notification, as its email sees it (this app never imports the model)."""

    target: str
    user: AbstractBaseUser


def link_lifetime() -> timedelta:
    return timedelta(days=settings.ALLOT_DECISION_LINK_DAYS)


def _fingerprint(step: ApprovalStep) -> str:
    """What the approver saw: any change to these makes the link stale."""
    request = step.request
    seen = "|".join(
        str(value)
        for value in (
            request.pk,
            request.state,
            request.current_step,
            request.amount_micros,
            request.until,
            hashlib.sha256(request.reason.encode()).hexdigest(),
            step.pk,
            step.index,
            step.state,
            step.approver_id,
            step.assigned_at and step.assigned_at.isoformat(),
        )
    )
    return hashlib.sha256(seen.encode()).hexdigest()[:32]


def decision_token(step: ApprovalStep, user: AbstractBaseUser) -> str:
    return signing.dumps({"s": step.pk, "u": user.pk, "f": _fingerprint(step)}, salt=SALT)


def decision_url(step: ApprovalStep, user: AbstractBaseUser) -> str:
    return absolute_url(reverse("approvals:decide-link", args=[decision_token(step, user)]))


@dataclass
class LinkCheck:
    """What a link says now: usable (step and approver set, no refusal), or why not."""

    step: ApprovalStep | None = None
    approver: AbstractBaseUser | None = None
    refusal: str = ""
    status: int = 200

    @property
    def usable(self) -> bool:
        return not self.refusal


def _stale_reason(step: ApprovalStep, approver: AbstractBaseUser) -> str:
    request = step.request
    if step.state in (StepState.APPROVED, StepState.REJECTED):
        who = (step.decided_by.get_full_name() or step.decided_by) if step.decided_by else "someone"
        when = timezone.localtime(step.decided_at) if step.decided_at else None
        return (
            f"This step was already {step.get_state_display().lower()} by {who}"
            + (f" on {when:%b %-d, %Y at %H:%M}" if when else "")
            + ". This link does nothing more."
        )
    if request.state != RequestState.IN_REVIEW:
        return f"This request is {request.get_state_display().lower()}: there is nothing to decide."
    if not may_decide(step, approver)[0]:
        return "This step is no longer yours to decide (it moved to someone else)."
    return "This request changed since the message was sent. Open it in Allot to decide."


def link_check(token: str, *, for_update: bool = False) -> LinkCheck:
    """Read a link: its signature, its age, and whether the request is as it was sent."""
    try:
        data = signing.loads(token, salt=SALT, max_age=link_lifetime())
    except signing.SignatureExpired:
        return LinkCheck(
            refusal="This link has expired. Open the request in Allot to decide.", status=410
        )
    except signing.BadSignature:
        return LinkCheck(refusal="This link is not valid.", status=400)
    steps = ApprovalStep.objects.select_related(
        "request__employee__user", "request__requester", "decided_by", "approver"
    )
    if for_update:
        # the request row is the lock every decision takes (approvals.services.request_decide)
        ApprovalRequest.objects.select_for_update(of=("self",)).filter(
            steps__pk=data.get("s")
        ).first()
    step = steps.filter(pk=data.get("s")).first()
    approver = get_user_model().objects.filter(pk=data.get("u"), is_active=True).first()
    if step is None or approver is None:
        return LinkCheck(refusal="This link is not valid any more.", status=404)
    if data.get("f") != _fingerprint(step):
        return LinkCheck(
            step=step, approver=approver, refusal=_stale_reason(step, approver), status=409
        )
    if not may_decide(step, approver)[0]:
        return LinkCheck(
            step=step,
            approver=approver,
            refusal="You cannot decide this request (nobody decides their own, nor two steps "
            "of one). Nothing was decided.",
            status=403,
        )
    return LinkCheck(step=step, approver=approver)


@transaction.atomic
def decision_link_use(*, token: str, approve: bool, comment: str = "") -> ApprovalRequest:
    """Decide the step the link names, as the approver it was sent to, once: under the
    request's lock the link is checked again, so two posts of one link decide once."""
    check = link_check(token, for_update=True)
    if not check.usable:
        raise AllotError(check.refusal, code="stale_link")
    return request_decide(
        request=check.step.request,
        user=check.approver,
        approve=approve,
        comment=comment,
        step_index=check.step.index,
    )


def waiting_email_lines(note: _Message) -> list[str]:
    """For the email of a "waits for you" message: the one-click link, when its reader may
    still decide the step it names."""
    step = _waiting_step(note)
    if step is None:
        return []
    until = timezone.localtime(timezone.now() + link_lifetime())
    return [
        "",
        f"Decide from here (a page asks you to confirm; the link works once, "
        f"until {until:%b %-d}): {decision_url(step, note.user)}",
    ]


def _waiting_step(note: _Message) -> ApprovalStep | None:
    parts = note.target.split(":")
    if len(parts) != 4 or parts[0] != "approvals.request":
        return None
    step = (
        ApprovalStep.objects.select_related("request__employee")
        .filter(request_id=parts[1], index=parts[3], state=StepState.PENDING)
        .first()
    )
    if step is None or step.request.state != RequestState.IN_REVIEW:
        return None
    return step if may_decide(step, note.user)[0] else None


def waiting_slack_blocks(note: _Message, slack_user: str) -> list[dict]:
    """Approve in Slack (the button carries the same single-use signed link, answered at
    /slack/interactivity/); Reject opens the confirmation page, where the reason is written."""
    step = _waiting_step(note)
    if step is None:
        return []
    token = decision_token(step, note.user)
    return [
        {
            "type": "actions",
            "block_id": f"allot_decide_{step.pk}",
            "elements": [
                {
                    "type": "button",
                    "action_id": "allot_approve",
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": token,
                },
                {
                    "type": "button",
                    "action_id": "allot_reject",
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Reject…"},
                    "url": decision_url(step, note.user),
                },
            ],
        }
    ]
