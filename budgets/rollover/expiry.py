"""Carried-over money expires after N months in its unspent part (spending draws it first)."""

import logging
from datetime import date, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum

from budgets.calculations import limit_micros
from budgets.carryover import carryover_expiry
from budgets.ledger import Floor, entry_post
from budgets.ledger.keys import carryover_expiry_key, carryover_expiry_late_key
from budgets.models import (
    Budget,
    DailySpend,
    EntryKind,
    LedgerEntry,
    RolloverRun,
)
from budgets.rollover.holds import closed_by_rollover, reservations_release_expired
from budgets.rollover.plan import CHUNK_SIZE
from common.money import Micros, format_usd
from people.selectors import fiscal_year_period

logger = logging.getLogger(__name__)


# -- expiry of carried-over money ----------------------------------------------------------------


def carryover_expire_due(*, today: date) -> tuple[int, Micros]:
    """Expire the unspent carried-over money of every budget whose expiry date has come: what
    is left of it is max(0, carried - spent before the expiry date) (spending draws carried
    money first). One expiry entry per budget, once (a key and the expired-on date say so).

    Usage made before the date but reported after the expiry ran (a gateway's delay, a hold
    settled after midnight) gives back what it should have drawn from the carried money, for
    ALLOT_CARRYOVER_LATE_USAGE_DAYS after the expiry (carryover_expiry_late_usage, run by the
    same task).

    A budget whose year the rollover has already closed is only marked expired: the close split
    all its unused money, the unspent carryover with it, into carried and forfeited. The beat
    runs this before the rollover, so money due on the close's day expires first.

    Holds past their time are given back first (the beat's job): only calls still in flight
    keep carried money from expiring on a hard budget."""
    reservations_release_expired()
    due = list(
        Budget.objects.filter(
            carryover_expires_on__lte=today,
            carryover_expired_on__isnull=True,
            carried_over_micros__gt=0,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    expired_budgets = expired_total = 0
    for start in range(0, len(due), CHUNK_SIZE):
        with transaction.atomic():
            budgets = _locked_open(due[start : start + CHUNK_SIZE], expired=False)
            runs = _runs_of_the_close([budget for budget, _ in budgets])
            due_now = _expiries_due([budget for budget, closed in budgets if not closed])
            for budget, closed in budgets:
                if closed:
                    Budget.objects.filter(pk=budget.pk).update(carryover_expired_on=today)
                    continue
                # Bounded by the carried money left unspent, read under the lock, and by what a
                # hard limit leaves free: money held by calls in flight is not taken from under
                # them (what they do not spend expires on a later day's pass, below).
                amount = expirable(budget, due_now[budget.pk])
                if amount:
                    entry_post(
                        budget=budget,
                        kind=EntryKind.EXPIRY,
                        amount_micros=-amount,
                        acting_user=None,
                        memo=(
                            f"Carried-over money unspent on {budget.carryover_expires_on}: "
                            f"{format_usd(amount)} of {format_usd(budget.carried_over_micros)}"
                        ),
                        idempotency_key=carryover_expiry_key(budget.pk),
                        floor=Floor.NONE,
                        rollover_run=runs.get(budget.fiscal_year - 1),
                    )
                    expired_budgets += 1
                    expired_total += amount
                Budget.objects.filter(pk=budget.pk).update(carryover_expired_on=today)
    return expired_budgets, expired_total


def carryover_expiry_late_usage(*, today: date, days: int | None = None) -> tuple[int, Micros]:
    """Give back carried-over money that expired while usage made before the expiry date was
    still on its way: for budgets expired in the last `days` (ALLOT_CARRYOVER_LATE_USAGE_DAYS),
    what should have expired is computed again from the usage now recorded before the date,
    and the difference is posted back as a (positive) expiry entry. Never on a closed year.

    The other way too: what a hard limit kept from expiring on the day (money then held by calls
    in flight) expires once those holds are gone, as far as they left it unspent (holds past
    their time are given back first, as in carryover_expire_due)."""
    reservations_release_expired()
    days = settings.ALLOT_CARRYOVER_LATE_USAGE_DAYS if days is None else days
    recent = list(
        Budget.objects.filter(
            carryover_expired_on__gte=today - timedelta(days=days),
            carryover_expired_on__lte=today,
            carried_over_micros__gt=0,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    returned_budgets = returned_total = 0
    for start in range(0, len(recent), CHUNK_SIZE):
        with transaction.atomic():
            budgets = _locked_open(recent[start : start + CHUNK_SIZE], expired=True)
            chunk = [budget for budget, closed in budgets if not closed]
            posted = {
                budget_id: (total, entries)
                for budget_id, total, entries in LedgerEntry.objects.filter(
                    budget__in=chunk, kind=EntryKind.EXPIRY
                )
                .values("budget_id")
                .annotate(total=Sum("amount_micros"), entries=Count("id"))
                .values_list("budget_id", "total", "entries")
            }
            runs = _runs_of_the_close(chunk)
            due_now = _expiries_due(chunk)
            for budget in chunk:
                total, entries = posted.get(budget.pk, (0, 0))
                back = -total - due_now[budget.pk]
                if back < 0:  # held on the day, unspent since: it expires now, as room allows
                    back = -expirable(budget, -back)
                if back == 0:
                    continue
                memo = (
                    f"Usage before {budget.carryover_expires_on} reported after the expiry "
                    f"drew {format_usd(back)} of the carried-over money: given back"
                    if back > 0
                    else f"Carried-over money held on {budget.carryover_expires_on} by calls "
                    f"in flight and left unspent: {format_usd(-back)} expired"
                )
                entry_post(
                    budget=budget,
                    kind=EntryKind.EXPIRY,
                    amount_micros=back,
                    acting_user=None,
                    memo=memo,
                    idempotency_key=carryover_expiry_late_key(budget.pk, entries),
                    floor=Floor.NONE,
                    rollover_run=runs.get(budget.fiscal_year - 1),
                )
                if back > 0:
                    returned_budgets += 1
                    returned_total += back
    return returned_budgets, returned_total


def expirable(budget: Budget, due: Micros) -> Micros:
    """The most of `due` an expiry may take from this budget, read under its lock: all of it on
    a soft budget; on a hard one, no more than keeps what is spent and held within the limit (a
    budget already past it gives nothing: it would only go further past)."""
    committed = budget.spent_micros + budget.reserved_micros
    if due <= 0 or budget.limit_micros is None:
        return max(due, 0)

    def fits(amount: Micros) -> bool:
        return (
            limit_micros(
                enforcement=budget.enforcement,
                allocated_micros=budget.allocated_micros - amount,
                overdraft_percent=budget.overdraft_percent,
            )
            >= committed
        )

    if not fits(0):
        return 0
    low, high = 0, due  # the largest amount that fits: the limit only falls as the amount grows
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def _runs_of_the_close(budgets: list[Budget]) -> dict[int, RolloverRun]:
    """The runs that carried these budgets' money in, by the fiscal year they closed."""
    years = {budget.fiscal_year - 1 for budget in budgets}
    return {run.fiscal_year: run for run in RolloverRun.objects.filter(fiscal_year__in=years)}


def _locked_open(ids: list[int], *, expired: bool) -> list[tuple[Budget, bool]]:
    """These budgets, locked in id order (on PostgreSQL), each with whether a rollover has closed
    its year: under the locks, so a chunk closed it before, or closes it after and splits what
    is left. `expired`: the ones already expired, else the ones not yet."""
    budgets = Budget.objects.filter(pk__in=ids, carryover_expired_on__isnull=not expired)
    budgets = budgets.order_by("pk")
    if connection.vendor == "postgresql":
        budgets = budgets.select_for_update()
    budgets = list(budgets)
    closed = closed_by_rollover(budget_ids=[budget.pk for budget in budgets])
    return [(budget, budget.pk in closed) for budget in budgets]


def _expiries_due(budgets: list[Budget]) -> dict[int, Micros]:
    """What of each budget's carried-over money expires (budget id -> micros), from the usage
    recorded from its year's start to its expiry date (spending draws carried money first).
    One grouped query for the chunk."""
    if not budgets:
        return {}
    in_year = Q()
    for fiscal_year in {budget.fiscal_year for budget in budgets}:
        in_year |= Q(
            budget__fiscal_year=fiscal_year, day__gte=fiscal_year_period(fiscal_year).start
        )
    spent_before = dict(
        DailySpend.objects.filter(in_year, budget__in=budgets)
        .filter(day__lt=F("budget__carryover_expires_on"))
        .values("budget_id")
        .annotate(total=Sum("spent_micros"))
        .values_list("budget_id", "total")
    )
    return {
        budget.pk: carryover_expiry(
            carried_micros=budget.carried_over_micros,
            spent_before_expiry_micros=spent_before.get(budget.pk) or 0,
        )
        for budget in budgets
    }
