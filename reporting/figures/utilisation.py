"""How much of their budgets people use: the utilisation spread of every budget, and each
level's real use against its default budget (the baseline for next year's bands)."""

from collections import defaultdict

from reporting import calculations as calc
from reporting.figures.inputs import ReportInputs
from reporting.figures.tables import pct, table


def utilisation_table(inputs: ReportInputs) -> dict:
    budgets, spend = inputs.org.budgets, inputs.spend
    counts, allocated, spent = (defaultdict(int) for _ in range(3))
    for budget_id in budgets:
        bucket = calc.utilisation_bucket(
            spent_micros=spend.year_by_budget.get(budget_id, 0),
            allocated_micros=spend.allocated_by_budget[budget_id],
        )
        counts[bucket] += 1
        allocated[bucket] += spend.allocated_by_budget[budget_id]
        spent[bucket] += spend.year_by_budget.get(budget_id, 0)
    rows = [
        [label, counts[key], pct(counts[key], len(budgets)), allocated[key], spent[key]]
        for key, label in calc.UTILISATION_BUCKETS
    ]
    return table(
        "utilisation",
        "Utilisation spread (year to date)",
        "utilisation",
        [
            ("Used of budget", "text"),
            ("Budgets", "count"),
            ("Share", "percent"),
            ("Allocated", "money"),
            ("Spent", "money"),
        ],
        rows,
        total=[
            "All budgets",
            len(budgets),
            pct(len(budgets), len(budgets)),
            sum(allocated.values()),
            sum(spent.values()),
        ],
        note="Every budget of the fiscal year (personal, team pools, projects) by the "
        "share of its allocation spent to date.",
    )


def baseline_table(inputs: ReportInputs) -> dict:
    """What each level really uses: median and p90 of annualised spend per engineer."""
    period, spend, employees = inputs.period, inputs.spend, inputs.org.employees
    by_level: dict[int, list[int]] = defaultdict(list)
    for employee_id in spend.personal:
        annual = calc.annualise(
            spent_micros=spend.year_by_employee.get(employee_id, 0),
            elapsed_days=period.year_days_elapsed,
            year_days=period.year_period.days,
        )
        by_level[employees[employee_id]["level_id"]].append(annual)
    rows = []
    for level in inputs.org.levels_by_rank:
        values = by_level.get(level.pk, [])
        median = calc.percentile_nearest_rank(values, 50)
        p90 = calc.percentile_nearest_rank(values, 90)
        low, high = calc.suggested_band(median_micros=median, p90_micros=p90)
        rows.append(
            [
                level.name,
                len(values),
                level.default_annual_budget_micros,
                median,
                p90,
                pct(median, level.default_annual_budget_micros),
                low if values else None,
                high if values else None,
            ]
        )
    return table(
        "baseline",
        "Baseline by level: what each level really uses",
        "utilisation",
        [
            ("Level", "text"),
            ("Engineers", "count"),
            ("Current default", "money"),
            ("Median (annualised)", "money"),
            ("p90 (annualised)", "money"),
            ("Median of default", "percent"),
            ("Suggested band from", "money"),
            ("Suggested band to", "money"),
        ],
        rows,
        note="Each engineer's own usage this fiscal year to date, annualised at the same pace. "
        "The suggested band runs from the median (rounded down to $1,000) to the p90 "
        "(rounded up to $1,000): nine in ten engineers of the level fit in it.",
    )
