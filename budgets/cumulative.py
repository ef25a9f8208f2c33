"""A budget's spend so far this fiscal year, month by month, and where it ends at that rate.

The dashboard's "spend against the budget" chart: the running total at each month's end (the
current month: today), a projection from today to the year's end at the average daily rate so
far, and the allocation as a line. Integer micro-units throughout.
"""

from dataclasses import dataclass
from datetime import date

from django.db.models import Sum
from django.db.models.functions import TruncMonth

from budgets.models import DailySpend
from budgets.models.budget import Budget
from common.money import Micros, divide_micros
from people.selectors import company_today, fiscal_year_period


@dataclass(frozen=True)
class CumulativeSpend:
    months: list[date]  # the first day of each month of the fiscal year
    spent: list[Micros | None]  # running total at each month's end; None after today's month
    projected: list[Micros | None]  # from today's month to the year's end; None before it
    allocated_micros: Micros
    spent_micros: Micros  # the budget's stored total: the last known point of `spent`
    projected_year_end_micros: Micros | None  # None before the year starts or after it ends


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def budget_cumulative_spend(*, budget: Budget, today: date | None = None) -> CumulativeSpend:
    """Running spend per month from the daily rollup (twelve rows at most). What the rollup does
    not hold (price corrections, posted as ledger entries) is counted in today's month, so the
    series always ends at the budget's spent total. The projection is the rate so far (spent over
    the days elapsed, today included) carried to each later month's end."""
    today = today or company_today()
    period = fiscal_year_period(budget.fiscal_year)
    by_month = dict(
        DailySpend.objects.filter(budget=budget, day__gte=period.start, day__lt=period.end)
        .annotate(month=TruncMonth("day"))
        .values("month")
        .annotate(total=Sum("spent_micros"))
        .values_list("month", "total")
    )
    months, month = [], period.start.replace(day=1)
    while month < period.end:
        months.append(month)
        month = _next_month(month)
    in_year = period.start <= today < period.end
    current = today.replace(day=1) if in_year else None
    shown_through = current if in_year else (months[-1] if today >= period.end else None)
    spent: list[Micros | None] = []
    running = 0
    for month in months:
        if shown_through is None or month > shown_through:
            spent.append(None)
            continue
        running += by_month.get(month, 0)
        if month == shown_through:
            running = budget.spent_micros  # corrections and anything else the rollup lacks
        spent.append(running)
    projected: list[Micros | None] = [None] * len(months)
    year_end = None
    if in_year:
        elapsed = (today - period.start).days + 1
        for index, month in enumerate(months):
            if month < current:
                continue
            if month == current:
                projected[index] = budget.spent_micros
            else:
                days = (min(_next_month(month), period.end) - period.start).days
                projected[index] = divide_micros(budget.spent_micros * days, elapsed)
        year_end = divide_micros(budget.spent_micros * period.days, elapsed)
    return CumulativeSpend(
        months=months,
        spent=spent,
        projected=projected,
        allocated_micros=budget.allocated_micros,
        spent_micros=budget.spent_micros,
        projected_year_end_micros=year_end,
    )
