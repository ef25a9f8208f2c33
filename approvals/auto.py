"""The auto-approval tier: a rule that approves small requests on its own, up to its amount per
request and its yearly cap per person. What this module decides is read under the person's
lock (two requests at once cannot both fit in what is left of the cap); the engine
(`approvals.services.request_submit`) records the rule's step and runs the effect."""

from datetime import date

from django.db.models import Sum

from approvals.models import (
    AUTO_APPROVABLE_KINDS,
    ApprovalRequest,
    ApprovalRule,
    RequestState,
    StepRole,
)
from common.errors import AllotError
from common.money import Micros, format_usd
from people.models import Employee
from people.selectors import fiscal_year_period


def auto_approved_micros(*, kind: str, employee: Employee, fiscal_year: int) -> Micros:
    """What rules approved on their own for this person this fiscal year, for this kind."""
    total = ApprovalRequest.objects.filter(
        kind=kind,
        employee=employee,
        fiscal_year=fiscal_year,
        state=RequestState.APPROVED,
        steps__role=StepRole.RULE,
    ).aggregate(total=Sum("amount_micros"))["total"]
    return total or 0


def auto_approval_reason(
    *,
    rule: ApprovalRule,
    kind: str,
    employee: Employee | None,
    amount_micros: Micros,
    fiscal_year: int,
) -> str:
    """Why the rule approves this request on its own, or "" when a person decides (the rule
    does not approve on its own, the kind never may, or the yearly cap would be passed).
    Locks the person's row: call it inside the submission's transaction."""
    if not rule.auto_approve or kind not in AUTO_APPROVABLE_KINDS or employee is None:
        return ""
    if rule.max_amount_micros is None or amount_micros > rule.max_amount_micros:
        return ""
    # The person's row is the lock: a second request waits here, then sees this one counted.
    Employee.objects.select_for_update().filter(pk=employee.pk).first()
    used = auto_approved_micros(kind=kind, employee=employee, fiscal_year=fiscal_year)
    cap = rule.yearly_cap_micros or 0
    if used + amount_micros > cap:
        return ""
    return (
        f"Approved by the rule: up to {format_usd(rule.max_amount_micros)} a request and "
        f"{format_usd(cap)} a person a year; {format_usd(used + amount_micros)} of it used "
        f"for {employee} in FY{fiscal_year} with this one."
    )


def permanent_effective_from(details: dict | None, *, fiscal_year: int) -> date:
    """The day a permanent increase takes effect: given, in this fiscal year or on the first
    day of the next (then it only changes the years to come)."""
    raw = (details or {}).get("effective_from")
    if raw in (None, ""):
        raise AllotError(
            "Say from which day the new annual budget applies.", field="effective_from"
        )
    try:
        day = raw if isinstance(raw, date) else date.fromisoformat(str(raw))
    except ValueError as error:
        raise AllotError(
            "The day it applies from is not a date (YYYY-MM-DD).", field="effective_from"
        ) from error
    period = fiscal_year_period(fiscal_year)
    if not period.start <= day <= period.end:
        raise AllotError(
            f"A permanent increase applies from a day in FY{fiscal_year} "
            f"({period.start:%Y-%m-%d} to {period.end:%Y-%m-%d}, the first day of the next).",
            field="effective_from",
        )
    return day
