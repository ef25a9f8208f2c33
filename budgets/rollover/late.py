"""Usage reported after a year's close, for that year.

It is charged to the closed year (the gateway names the day of the call). Money the close split
is taken back to pay for it, in this order: first what that year forfeited (the forfeiture is
reversed by that amount: a positive FORFEITURE entry pointing at the run that closed the year),
then what it carried over (a positive CARRYOVER_OUT entry on the closed budget and a negative
CARRYOVER_IN on the new year's budget, as far as the new year still holds that carry-in unspent),
and any rest stays as the closed year's overspend (spent beyond allocated), visible as such and
never as a negative budget of the new year.

Decided in the ingest transaction under the budget locks, after the batch's totals are written:
only for budgets whose fiscal year is over (known from the batch's own years, so a batch on an
open year asks nothing) and that a rollover has closed. Idempotent: the usage events are stored
once, and each entry is keyed by the events it pays for.
"""

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Sum

from budgets.ledger import EntryRow, TotalsMove, entries_copy, totals_add
from budgets.ledger.keys import late_usage_key
from budgets.models import Budget, EntryKind, LedgerEntry, RolloverItem
from common.money import Micros, format_usd


@dataclass(frozen=True, slots=True)
class LateUsage:
    """What a batch charged to one closed budget: the cost, the overspend it leaves (spent +
    reserved beyond allocated, after the batch), and the events (for the keys)."""

    budget_id: int
    fiscal_year: int
    cost_micros: Micros
    overspent_micros: Micros
    event_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LateSettlement:
    budget_id: int
    forfeiture_reversed_micros: Micros
    carryover_taken_back_micros: Micros
    overspend_micros: Micros


def late_usage_settle(
    *, late: list[LateUsage], closed: dict[int, int], now
) -> list[LateSettlement]:
    """Pay late usage on closed budgets (`closed`: budget id -> the run that closed it) from
    what their close forfeited, then from what it carried over; the rest stays overspend.
    Call it in the transaction that wrote the usage, with the closed budgets locked."""
    late = [item for item in late if item.budget_id in closed and item.cost_micros > 0]
    late = [item for item in late if item.overspent_micros > 0]
    if not late:
        return []
    left, targets, room = _what_the_closes_left([item.budget_id for item in late])
    entries: list[EntryRow] = []
    moves: dict[int, TotalsMove] = defaultdict(TotalsMove)
    settled = []
    for item in sorted(late, key=lambda item: item.budget_id):
        due = min(item.cost_micros, item.overspent_micros)
        reversed_ = min(due, left[item.budget_id, EntryKind.FORFEITURE])
        target = targets.get(item.budget_id)
        taken = 0
        if target is not None:
            taken = min(
                due - reversed_, left[item.budget_id, EntryKind.CARRYOVER_OUT], room[target]
            )
            room[target] -= taken

        events = list(item.event_keys)

        def key(kind: str, budget_id: int, events: list[str] = events) -> str:
            return late_usage_key(kind=kind, budget_id=budget_id, event_keys=events)

        year = f"FY{item.fiscal_year}"
        if reversed_:
            entries.append(
                EntryRow(
                    item.budget_id,
                    EntryKind.FORFEITURE,
                    reversed_,
                    f"{year} closed: forfeiture reversed by {format_usd(reversed_)} to pay usage "
                    "reported after the close",
                    now,
                    idempotency_key=key("forfeiture", item.budget_id),
                    rollover_run_id=closed[item.budget_id],
                )
            )
            moves[item.budget_id].allocated_micros += reversed_
        if taken:
            entries.append(
                EntryRow(
                    item.budget_id,
                    EntryKind.CARRYOVER_OUT,
                    taken,
                    f"{year} closed: {format_usd(taken)} of the carryover taken back to pay "
                    "usage reported after the close",
                    now,
                    idempotency_key=key("carryover-out", item.budget_id),
                    rollover_run_id=closed[item.budget_id],
                )
            )
            entries.append(
                EntryRow(
                    target,
                    EntryKind.CARRYOVER_IN,
                    -taken,
                    f"Carryover from {year} reduced by {format_usd(taken)}: usage of {year} "
                    "reported after the close",
                    now,
                    idempotency_key=key("carryover-in", target),
                    rollover_run_id=closed[item.budget_id],
                )
            )
            moves[item.budget_id].allocated_micros += taken
            moves[target].allocated_micros -= taken
            moves[target].carried_over_micros -= taken
        settled.append(LateSettlement(item.budget_id, reversed_, taken, due - reversed_ - taken))
    entries_copy(entries)
    totals_add(moves)
    return settled


def _what_the_closes_left(
    ids: list[int],
) -> tuple[dict[tuple[int, str], Micros], dict[int, int], dict[int, Micros]]:
    """For these closed budgets: what their close forfeited and carried out that late usage has
    not taken back yet ((budget id, kind) -> micros), the new year's budget each carried into,
    and what each of those can give back (locked)."""
    left: dict[tuple[int, str], Micros] = defaultdict(int)
    for budget_id, kind, total in (
        LedgerEntry.objects.filter(
            budget_id__in=ids, kind__in=[EntryKind.FORFEITURE, EntryKind.CARRYOVER_OUT]
        )
        .values_list("budget_id", "kind")
        .annotate(total=Sum("amount_micros"))
        .order_by()
    ):
        left[budget_id, kind] = max(0, -(total or 0))
    targets = dict(
        RolloverItem.objects.filter(
            source_budget_id__in=ids, target_budget__isnull=False
        ).values_list("source_budget_id", "target_budget_id")
    )
    # The new year's budgets, locked in id order after the closed ones (ingest retries a
    # deadlock); what each can give back is the carry-in it still holds unspent.
    room = {
        pk: max(0, min(carried, remaining))
        for pk, carried, remaining in Budget.objects.select_for_update()
        .filter(pk__in=sorted(set(targets.values())))
        .order_by("pk")
        .values_list("pk", "carried_over_micros", "remaining_micros")
    }
    return left, targets, room
