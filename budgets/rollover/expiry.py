"""Carried-over money expires after N months in its unspent part (spending draws it first)."""

import logging
from datetime import date, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Sum

from budgets.carryover import carryover_expiry
from budgets.models import (
    Budget,
    DailySpend,
    EntryKind,
    LedgerEntry,
    RolloverRun,
)
from budgets.rollover.holds import closed_by_rollover
from budgets.rollover.plan import CHUNK_SIZE
from common.money import Micros, format_usd
from people.selectors import fiscal_year_period

logger = logging.getLogger(__name__)


# -- expiry of carried-over money ----------------------------------------------------------------


def carryover_expire_due(*, today: date, grace_days: int | None = None) -> tuple[int, Micros]:
    """Expire the unspent carried-over money of every budget whose expiry date has come: what
    is left of it is max(0, carried - spent before the expiry date) (spending draws carried
    money first). One expiry entry per budget, once (a key and the expired-on date say so).

    `grace_days` (ALLOT_CARRYOVER_EXPIRY_GRACE_DAYS, 1 by default) after the expiry date, so
    usage made before it and reported late (a gateway's delay, a hold settled after midnight)
    is counted as drawing the carried money; the decision is final once made.

    A budget whose year the rollover has already closed is only marked expired: the close split
    all its unused money, the unspent carryover with it, into carried and forfeited."""
    if grace_days is None:
        grace_days = settings.ALLOT_CARRYOVER_EXPIRY_GRACE_DAYS
    due = list(
        Budget.objects.filter(
            carryover_expires_on__lte=today - timedelta(days=grace_days),
            carryover_expired_on__isnull=True,
            carried_over_micros__gt=0,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    expired_budgets = expired_total = 0
    for start in range(0, len(due), CHUNK_SIZE):
        with transaction.atomic():
            budgets = Budget.objects.filter(
                pk__in=due[start : start + CHUNK_SIZE], carryover_expired_on__isnull=True
            ).order_by("pk")
            if connection.vendor == "postgresql":
                budgets = budgets.select_for_update()
            budgets = list(budgets)
            # Under the budget locks: a chunk closed these before, or closes them after (and
            # then splits what this leaves).
            closed = closed_by_rollover(budget_ids=[budget.pk for budget in budgets])
            runs = {
                run.fiscal_year: run
                for run in RolloverRun.objects.filter(
                    fiscal_year__in={b.fiscal_year - 1 for b in budgets}
                )
            }
            for budget in budgets:
                if budget.pk in closed:
                    Budget.objects.filter(pk=budget.pk).update(carryover_expired_on=today)
                    continue
                period = fiscal_year_period(budget.fiscal_year)
                spent_before = (
                    DailySpend.objects.filter(
                        budget=budget, day__gte=period.start, day__lt=budget.carryover_expires_on
                    ).aggregate(total=Sum("spent_micros"))["total"]
                    or 0
                )
                amount = carryover_expiry(
                    carried_micros=budget.carried_over_micros,
                    spent_before_expiry_micros=spent_before,
                )
                if amount:
                    run = runs.get(budget.fiscal_year - 1)
                    LedgerEntry.objects.create(
                        budget=budget,
                        kind=EntryKind.EXPIRY,
                        amount_micros=-amount,
                        memo=(
                            f"Carried-over money unspent on {budget.carryover_expires_on}: "
                            f"{format_usd(amount)} of {format_usd(budget.carried_over_micros)}"
                        ),
                        idempotency_key=f"carryover-expiry:budget:{budget.pk}",
                        rollover_run=run,
                    )
                    expired_budgets += 1
                    expired_total += amount
                Budget.objects.filter(pk=budget.pk).update(
                    allocated_micros=F("allocated_micros") - amount, carryover_expired_on=today
                )
    return expired_budgets, expired_total
