"""The company's level-change policy, carried out (registered with people.level_changes at
start-up): automatic posts this year's prorated difference through the ledger at once;
through approval opens a `level_change` request whose final approval posts it; next year only
posts nothing (the rollover allocates from the new level). A preview says the same sentence
without writing."""

from django.contrib.auth.models import AbstractBaseUser

from approvals.models import ApprovalRequest, RequestKind, RequestState
from approvals.services import request_submit, rule_for
from budgets.ledger.keys import approval_request_key, level_change_key
from budgets.level_changes import LevelChangeShare, budget_level_change, level_change_share
from common.errors import AllotError
from common.money import format_usd
from people.level_changes import LevelChange, LevelChangeOutcome, signed_usd
from people.models import LevelChangePolicy


def _share_words(share: LevelChangeShare) -> str:
    capped = f", {share.note}" if share.capped and share.note else ""
    return f"{signed_usd(share.amount_micros)} in FY{share.fiscal_year}{capped}"


def _nothing(change: LevelChange, why: str) -> LevelChangeOutcome:
    return LevelChangeOutcome(
        change, f"{change.heading}: nothing this year, {why} (policy: {change.policy_words})."
    )


def _memo(details: dict, by: str) -> str:
    """The entry's memo: who asked (the source, or the request) and the annual amounts."""
    return (
        f"Level change {details['old_level']} → {details['new_level']} from "
        f"{details['effective_from']} ({by}): {format_usd(details['annual_before_micros'])} → "
        f"{format_usd(details['annual_after_micros'])} a year, this year's share"
    )


def _details(change: LevelChange, share: LevelChangeShare) -> dict:
    return {
        "old_level": change.old_level.name,
        "new_level": change.new_level.name,
        "effective_from": change.effective.isoformat(),
        "source": change.source,
        "annual_before_micros": change.annual_before_micros,
        "annual_after_micros": change.annual_after_micros,
        "share_micros": share.share_micros,
        "share_fiscal_year": share.fiscal_year,
    }


def level_change_handle(
    change: LevelChange, acting_user: AbstractBaseUser | None, preview: bool
) -> LevelChangeOutcome:
    if change.policy == LevelChangePolicy.NEXT_YEAR:
        return _nothing(
            change, f"later years start from {format_usd(change.annual_after_micros)} a year"
        )
    share = level_change_share(
        employee=change.employee,
        annual_difference_micros=change.annual_difference_micros,
        effective=change.effective,
    )
    if share.amount_micros == 0:
        return _nothing(change, share.note or "the annual amounts are the same")
    if preview:
        once = ""
        if change.policy == LevelChangePolicy.APPROVAL:
            rule_for(kind=RequestKind.LEVEL_CHANGE, amount_micros=abs(share.amount_micros))
            once = ", once approved"
        return LevelChangeOutcome(
            change,
            f"{change.heading}: {_share_words(share)}{once} (policy: {change.policy_words}).",
            amount_micros=share.amount_micros,
        )
    if change.policy == LevelChangePolicy.AUTOMATIC:
        return _post_now(change, share, acting_user)
    return _ask(change, share, acting_user)


def _post_now(
    change: LevelChange, share: LevelChangeShare, acting_user: AbstractBaseUser | None
) -> LevelChangeOutcome:
    posted = budget_level_change(
        employee=change.employee,
        share_micros=share.share_micros,
        fiscal_year=share.fiscal_year,
        acting_user=acting_user,
        memo=_memo(_details(change, share), change.source or "level change"),
        idempotency_key=level_change_key(
            employee_id=change.employee.pk,
            old_level_id=change.old_level.pk,
            new_level_id=change.new_level.pk,
            effective=change.effective,
        ),
    )
    if posted.amount_micros == 0:
        return _nothing(change, posted.note)
    return LevelChangeOutcome(
        change,
        f"{change.heading}: {_share_words(posted)} posted (policy: {change.policy_words}).",
        amount_micros=posted.amount_micros,
        posted=True,
    )


def _ask(
    change: LevelChange, share: LevelChangeShare, acting_user: AbstractBaseUser | None
) -> LevelChangeOutcome:
    if acting_user is None:
        raise AllotError("A level change through approval needs the person who asks for it.")
    request = request_submit(
        kind=RequestKind.LEVEL_CHANGE,
        requester=acting_user,
        employee=change.employee,
        amount_micros=abs(share.amount_micros),
        reason=(
            f"{change.heading} ({change.source}): {signed_usd(share.amount_micros)} in "
            f"FY{share.fiscal_year}, {format_usd(change.annual_before_micros)} → "
            f"{format_usd(change.annual_after_micros)} a year prorated from the day it applies"
        ),
        details=_details(change, share),
    )
    approved = request.state == RequestState.APPROVED
    words = "posted, approved by the rule" if approved else "asked for"
    return LevelChangeOutcome(
        change,
        f"{change.heading}: {_share_words(share)} {words}, request #{request.pk} "
        f"(policy: {change.policy_words}).",
        amount_micros=share.amount_micros,
        posted=approved,
        request_id=request.pk,
    )


def level_change_post(request: ApprovalRequest, user: AbstractBaseUser | None) -> None:
    """The approved request's share, posted under its key; a decrease capped at what is
    unspent and unheld at the moment of the approval."""
    details = request.details
    share = budget_level_change(
        employee=request.employee,
        share_micros=details["share_micros"],
        fiscal_year=details["share_fiscal_year"],
        acting_user=user,
        memo=_memo(details, f"request #{request.pk}"),
        idempotency_key=approval_request_key(request.pk),
    )
    details = {**details, "posted_micros": share.amount_micros, "posted_note": share.note}
    ApprovalRequest.objects.filter(pk=request.pk).update(details=details)
    request.details = details
