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
from django.db.models import F, Sum
from django.utils import timezone

from budgets.carryover import freed_hold_forfeitures
from budgets.ledger import EntryRow, TotalsMove, entries_copy, reserved_release, totals_add
from budgets.ledger.keys import hold_forfeiture_key
from budgets.models import (
    Budget,
    EntryKind,
    LedgerEntry,
    Reservation,
    ReservationState,
    RolloverItem,
)
from common.money import Micros, format_usd


@dataclass(frozen=True, slots=True)
class FreedHold:
    """Money a hold gave back to its budget: the whole hold when it is released, the hold less
    the actual cost when usage settles it on the same budget."""

    reservation_id: uuid.UUID
    budget_id: int
    freed_micros: Micros


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


def reservations_release_expired(*, now: datetime | None = None, batch: int = 1_000) -> int:
    """Give back the holds nobody settled in time (their calls are over: a hold past its time
    holds nothing). Each batch is one transaction; rows another worker is releasing are
    skipped, so running this twice at once releases each hold once. A hold on a year the
    rollover has already closed is forfeited as it is released. The beat runs it every minute;
    the close and the carryover expiry run it first, so neither decides on dead holds."""
    now = now or timezone.now()
    released = 0
    while True:
        with transaction.atomic():
            expired = list(
                Reservation.objects.select_for_update(skip_locked=True)
                .filter(state=ReservationState.HELD, expires_at__lte=now)
                .order_by("expires_at")[:batch]
            )
            if not expired:
                return released
            per_budget: dict[int, int] = {}
            for reservation in expired:
                per_budget[reservation.budget_id] = (
                    per_budget.get(reservation.budget_id, 0) + reservation.amount_micros
                )
                reservation.state = ReservationState.EXPIRED
                reservation.closed_at = now
            Reservation.objects.bulk_update(expired, ["state", "closed_at"])
            reserved_release(per_budget)
            freed_holds_forfeit(
                freed=[FreedHold(r.pk, r.budget_id, r.amount_micros) for r in expired], now=now
            )
            released += len(expired)


def freed_holds_forfeit(*, freed: list[FreedHold], now: datetime) -> list[EntryRow]:
    """Forfeit the money holds freed on budgets whose year is already closed (the rule is
    budgets.carryover.freed_hold_forfeitures), as far as each budget has unused money once they
    are freed; holds on open years post nothing. For releases that free holds all at one moment
    (expiry); ingest decides each settlement in call order and posts with hold_forfeitures_post.

    Call it in the transaction that frees the holds, after their budgets' totals are written:
    the budget rows are locked by then, so a rollover chunk either closed the budget before (and
    its item is seen here) or closes it after (and counts the freed money as unused). Nothing
    freed costs no query; holds on open years cost one."""
    freed = [hold for hold in freed if hold.freed_micros > 0]
    closed = closed_by_rollover(budget_ids={hold.budget_id for hold in freed})
    if not closed:
        return []
    holds_by_budget: dict[int, list[FreedHold]] = defaultdict(list)
    for hold in _not_posted([hold for hold in freed if hold.budget_id in closed]):
        holds_by_budget[hold.budget_id].append(hold)
    budgets = {
        pk: (fiscal_year, remaining)
        for pk, fiscal_year, remaining in Budget.objects.filter(
            pk__in=list(holds_by_budget)
        ).values_list("pk", "fiscal_year", "remaining_micros")
    }
    forfeits = []
    for budget_id, holds in sorted(holds_by_budget.items()):
        amounts = freed_hold_forfeitures(
            remaining_micros=budgets[budget_id][1],
            freed_micros=[hold.freed_micros for hold in holds],
        )
        forfeits += [
            FreedHold(hold.reservation_id, budget_id, forfeited)
            for hold, forfeited in zip(holds, amounts, strict=True)
            if forfeited
        ]
    years = {pk: fiscal_year for pk, (fiscal_year, _) in budgets.items()}
    return _post(forfeits, closed=closed, years=years, now=now)


def hold_forfeitures_post(
    *, forfeits: list[FreedHold], closed: dict[int, int], now: datetime
) -> list[EntryRow]:
    """Post decided forfeitures (each FreedHold's amount is what is forfeited) on closed budgets
    (`closed`: budget id -> the run that closed it): a FORFEITURE entry per hold pointing at the
    run, like the close's own, and the budgets' allocated totals moved with them. A hold already
    forfeited posts nothing again."""
    forfeits = _not_posted([hold for hold in forfeits if hold.freed_micros > 0])
    if not forfeits:
        return []
    years = dict(
        Budget.objects.filter(pk__in={hold.budget_id for hold in forfeits}).values_list(
            "pk", "fiscal_year"
        )
    )
    return _post(forfeits, closed=closed, years=years, now=now)


def _post(
    forfeits: list[FreedHold], *, closed: dict[int, int], years: dict[int, int], now: datetime
) -> list[EntryRow]:
    """The entries and the allocated totals, for forfeitures already decided and not yet
    posted (`years`: each budget's fiscal year, for the memo)."""
    if not forfeits:
        return []
    entries: list[EntryRow] = []
    moves: dict[int, TotalsMove] = defaultdict(TotalsMove)
    per_item: dict[tuple[int, int], Micros] = defaultdict(int)  # (run, source budget) -> sum
    for hold in forfeits:
        entries.append(
            EntryRow(
                budget_id=hold.budget_id,
                kind=EntryKind.FORFEITURE,
                amount_micros=-hold.freed_micros,
                memo=(
                    f"FY{years[hold.budget_id]} closed: {format_usd(hold.freed_micros)} freed by "
                    f"a hold after the close, forfeited (reservation {hold.reservation_id})"
                ),
                idempotency_key=hold_forfeiture_key(hold.reservation_id),
                rollover_run_id=closed[hold.budget_id],
                created_at=now,
            )
        )
        moves[hold.budget_id].allocated_micros -= hold.freed_micros
        per_item[closed[hold.budget_id], hold.budget_id] += hold.freed_micros
    with transaction.atomic():
        entries_copy(entries)
        totals_add(moves)
        # The budget rows are locked by now (the caller's, or totals_add's), so each item's
        # total moves in the order its budget's entries are posted.
        for (run_id, budget_id), micros in sorted(per_item.items()):
            RolloverItem.objects.filter(run_id=run_id, source_budget_id=budget_id).update(
                hold_forfeited_micros=F("hold_forfeited_micros") + micros
            )
    return entries


def run_hold_forfeited_micros(run_id: int) -> Micros:
    """What holds freed after the close have forfeited on the budgets this run closed: the sum
    of its items' hold_forfeited_micros (each moved with its entries, so it equals the sum of
    the run's hold-forfeiture entries)."""
    total = RolloverItem.objects.filter(run_id=run_id, hold_forfeited_micros__gt=0).aggregate(
        total=Sum("hold_forfeited_micros")
    )["total"]
    return total or 0


def _not_posted(holds: list[FreedHold]) -> list[FreedHold]:
    """The holds with no forfeiture entry yet: a retried release posts nothing more."""
    if not holds:
        return []
    posted = set(
        LedgerEntry.objects.filter(
            idempotency_key__in=[hold_forfeiture_key(hold.reservation_id) for hold in holds]
        ).values_list("idempotency_key", flat=True)
    )
    return [hold for hold in holds if hold_forfeiture_key(hold.reservation_id) not in posted]
