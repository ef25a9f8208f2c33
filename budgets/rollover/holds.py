"""Holds freed after the close.

The close splits a budget's unused money, allocated - spent - reserved: money held by an open
reservation is neither carried nor forfeited. When that hold is freed later (it expires, or usage
settles it for less than it held, or usage of the new year settles it and the whole hold is
released) the money would stay on the closed year's budget as unused allocation that no entry
accounts for. So it is forfeited, in the transaction that frees it: a FORFEITURE entry per hold
on the closed budget, pointing at the run that closed the year, like the close's own
forfeitures. It is not carried: carryover was decided at the close. Usage that costs more than
its hold stays recorded as usage (late usage on a closed year is a gap of its own).
"""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from budgets.carryover import freed_hold_forfeitures
from budgets.models import Budget, EntryKind, LedgerEntry, RolloverItem
from budgets.rollover.commit import _apply_moves
from common.money import Micros, format_usd


@dataclass(frozen=True, slots=True)
class FreedHold:
    """Money a hold gave back to its budget: the whole hold when it is released, the hold less
    the actual cost when usage settles it on the same budget."""

    reservation_id: uuid.UUID
    budget_id: int
    freed_micros: Micros


def hold_forfeiture_key(reservation_id: uuid.UUID) -> str:
    """Once per hold: a retried release posts nothing more."""
    return f"hold-forfeiture:reservation:{reservation_id}"


def closed_by_rollover(*, budget_ids: Iterable[int]) -> dict[int, int]:
    """Which of these budgets a rollover has closed: budget id -> the id of the run that did.

    A budget is closed once a RolloverItem names it as its source budget. The item is written in
    the transaction that posts the budget's carryover and forfeiture, so it exists exactly when
    the unused money has been split, even while the rest of the run is still going (or failed
    and waits to resume). One lookup on the item's source_budget index."""
    ids = sorted(set(budget_ids))
    if not ids:
        return {}
    return dict(
        RolloverItem.objects.filter(source_budget_id__in=ids).values_list(
            "source_budget_id", "run_id"
        )
    )


def freed_holds_forfeit(*, freed: list[FreedHold], now: datetime) -> list[LedgerEntry]:
    """Forfeit the money holds freed on budgets whose year is already closed (the rule is
    budgets.carryover.freed_hold_forfeitures); holds on open years post nothing.

    Call it in the transaction that frees the holds, after their budgets' totals are written:
    the budget rows are locked by then, so a rollover chunk either closed the budget before (and
    its item is seen here) or closes it after (and counts the freed money as unused). Nothing
    freed costs no query; holds on open years cost one."""
    freed = [hold for hold in freed if hold.freed_micros > 0]
    closed = closed_by_rollover(budget_ids={hold.budget_id for hold in freed})
    if not closed:
        return []
    freed = [hold for hold in freed if hold.budget_id in closed]
    posted = set(
        LedgerEntry.objects.filter(
            idempotency_key__in=[hold_forfeiture_key(hold.reservation_id) for hold in freed]
        ).values_list("idempotency_key", flat=True)
    )
    holds_by_budget: dict[int, list[FreedHold]] = defaultdict(list)
    for hold in freed:
        if hold_forfeiture_key(hold.reservation_id) not in posted:
            holds_by_budget[hold.budget_id].append(hold)
    budgets = {
        pk: (fiscal_year, remaining)
        for pk, fiscal_year, remaining in Budget.objects.filter(
            pk__in=list(holds_by_budget)
        ).values_list("pk", "fiscal_year", "remaining_micros")
    }
    entries = []
    moves: dict[int, list] = {}  # budget id -> [allocated delta, carried delta, expires on]
    for budget_id, holds in sorted(holds_by_budget.items()):
        fiscal_year, remaining = budgets[budget_id]
        amounts = freed_hold_forfeitures(
            remaining_micros=remaining, freed_micros=[hold.freed_micros for hold in holds]
        )
        for hold, forfeited in zip(holds, amounts, strict=True):
            if not forfeited:
                continue
            entries.append(
                LedgerEntry(
                    budget_id=budget_id,
                    kind=EntryKind.FORFEITURE,
                    amount_micros=-forfeited,
                    memo=(
                        f"FY{fiscal_year} closed: {format_usd(forfeited)} freed by a hold after "
                        f"the close, forfeited (reservation {hold.reservation_id})"
                    ),
                    idempotency_key=hold_forfeiture_key(hold.reservation_id),
                    rollover_run_id=closed[budget_id],
                    created_at=now,
                )
            )
            moves.setdefault(budget_id, [0, 0, None])[0] -= forfeited
    if entries:
        with transaction.atomic():
            LedgerEntry.objects.bulk_create(entries)
            _apply_moves(moves)
    return entries
