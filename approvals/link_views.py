"""The page a one-click decision link opens (approvals/oneclick.py): GET shows the request and
asks to confirm, and changes nothing (mail scanners follow links); POST decides, once.

The signed link is the approver's credential for this one decision, so the page works without
a session; someone signed in as another person is refused rather than acting as the link's
approver."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from approvals.models import RequestState
from approvals.oneclick import LinkCheck, decision_link_use, link_check
from common.errors import AllotError
from common.money import format_usd

DECISIONS = {"approve": True, "reject": False}


def _page(
    request: HttpRequest,
    check: LinkCheck,
    *,
    status: int,
    error: str = "",
    done: str = "",
    comment: str = "",
) -> HttpResponse:
    approval = check.step.request if check.step else None
    response = render(
        request,
        "approvals/decide_link.html",
        {
            "check": check,
            "approval": approval,
            "amount": approval and format_usd(approval.amount_micros),
            "steps": approval.steps.select_related("approver", "decided_by") if approval else [],
            "error": error,
            "done": done,
            "comment": comment,
        },
        status=status,
    )
    # The address is a credential: no other site learns it from a link on this page. (Not
    # "no-referrer": with it the browser sends "Origin: null" and the CSRF check refuses the POST.)
    response["Referrer-Policy"] = "same-origin"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def decide_link(request: HttpRequest, token: str) -> HttpResponse:
    check = link_check(token)
    if check.usable and request.user.is_authenticated and request.user.pk != check.approver.pk:
        check = LinkCheck(
            step=check.step,
            approver=check.approver,
            refusal=f"This link was sent to {check.approver.get_username()}; you are signed in "
            f"as {request.user.get_username()}. Nothing was decided.",
            status=403,
        )
    if not check.usable or request.method == "GET":
        return _page(request, check, status=check.status)
    decision = request.POST.get("decision", "")
    comment = request.POST.get("comment", "")[:2000]
    if decision not in DECISIONS:
        return _page(request, check, status=400, error='decision: choose "approve" or "reject".')
    try:
        decided = decision_link_use(token=token, approve=DECISIONS[decision], comment=comment)
    except AllotError as error:
        if error.code == "stale_link":
            return _page(request, link_check(token), status=409)
        field = f"{error.field}: " if error.field else ""
        return _page(request, check, status=400, error=field + error.message, comment=comment)
    what = "approved" if DECISIONS[decision] else "rejected"
    outcome = (
        "The request is now fully approved and applied."
        if decided.state == RequestState.APPROVED
        else f"The request is {decided.get_state_display().lower()}."
    )
    check.step.refresh_from_db()
    check.step.request = decided  # the page shows the request as it is now
    return _page(
        request,
        LinkCheck(step=check.step, approver=check.approver),
        status=200,
        done=f"You {what} step {check.step.index + 1} of {decided}. {outcome}",
    )
