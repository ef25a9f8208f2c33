"""Money moved by hand (a ledger entry HR or finance posts in the admin), with a second pair of
eyes above the company's threshold.

Up to `CompanySettings.manual_entry_approval_above_micros`, counting either sign and what the
same person posted alone in the last 24 hours, the entry is posted at once, with its required
reason. Above it, it becomes a request of its own kind that someone other than its author
approves, through the same engine as every other request; the entry is posted on the final
approval, in the decision's transaction, with the request as its idempotency key
(approvals/effects.py)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Abs
from django.utils import timezone

from approvals.models import ApprovalRequest, RequestKind
from approvals.services import request_submit
from budgets.models import Budget, EntryKind, LedgerEntry
from budgets.services import budget_adjust, budget_allocate
from common.errors import AllotError
from common.money import Micros, format_usd
from people.selectors import company_settings

MANUAL_KINDS = (EntryKind.ALLOCATION, EntryKind.APPROVED_INCREASE, EntryKind.ADJUSTMENT)


# The threshold holds for what one person posts alone in this long, not per entry: five entries
# of $9,999 are one move of $49,995.
ALONE_WINDOW = timedelta(hours=24)


def posted_alone_micros(author: AbstractBaseUser) -> Micros:
    """What this person posted by hand, without a second person, in the last ALONE_WINDOW
    (either sign counts)."""
    return (
        LedgerEntry.objects.filter(
            acting_user_id=author.pk,
            kind__in=MANUAL_KINDS,
            idempotency_key__isnull=True,  # entries posted by an approval carry its key
            created_at__gte=timezone.now() - ALONE_WINDOW,
        ).aggregate(total=Sum(Abs("amount_micros")))["total"]
        or 0
    )


def manual_entry_needs_approval(amount_micros: Micros, *, author: AbstractBaseUser) -> bool:
    threshold = company_settings().manual_entry_approval_above_micros
    return abs(amount_micros) + posted_alone_micros(author) > threshold


def manual_entry_apply(
    *,
    budget: Budget,
    kind: str,
    amount_micros: Micros,
    memo: str,
    acting_user: AbstractBaseUser,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    if kind == EntryKind.ADJUSTMENT:
        return budget_adjust(
            budget=budget,
            amount_micros=amount_micros,
            acting_user=acting_user,
            memo=memo,
            idempotency_key=idempotency_key,
        )
    return budget_allocate(
        budget=budget,
        kind=kind,
        amount_micros=amount_micros,
        acting_user=acting_user,
        memo=memo,
        idempotency_key=idempotency_key,
    )


@transaction.atomic
def manual_entry_post(
    *,
    budget: Budget,
    kind: str,
    amount_micros: Micros,
    memo: str,
    acting_user: AbstractBaseUser,
) -> LedgerEntry | ApprovalRequest:
    """Post a hand-made entry, or (above the threshold) open the request that will."""
    memo = memo.strip()
    if not memo:
        raise AllotError("Say why: a manual entry needs its reason.", field="memo")
    if kind not in MANUAL_KINDS:
        raise AllotError(f"{kind} is not an entry posted by hand.", field="kind")
    # One author's entries are counted one at a time, so two at once cannot both fit.
    get_user_model().objects.select_for_update().filter(pk=acting_user.pk).exists()
    if not manual_entry_needs_approval(amount_micros, author=acting_user):
        return manual_entry_apply(
            budget=budget,
            kind=kind,
            amount_micros=amount_micros,
            memo=memo,
            acting_user=acting_user,
        )
    label = EntryKind(kind).label.lower()
    return request_submit(
        kind=RequestKind.LEDGER_ENTRY,
        requester=acting_user,
        amount_micros=abs(amount_micros),
        reason=f"{label.capitalize()} of {format_usd(amount_micros)} to {budget}: {memo}",
        employee=budget.employee,
        team=budget.team,
        project=budget.project,
        details={"budget": budget.pk, "entry_kind": kind, "amount_micros": amount_micros},
    )
