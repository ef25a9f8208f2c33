"""The forecast to the fiscal year's end at the quarter's burn rate, and the budgets projected to
run out before it."""

from datetime import timedelta

from reporting import calculations as calc
from reporting.figures.inputs import ReportInputs
from reporting.figures.tables import table

FORECAST_TABLE_LIMIT = 25


def forecast_tables(inputs: ReportInputs) -> list[dict]:
    return [forecast_table(inputs), runs_out_table(inputs)]


def forecast_table(inputs: ReportInputs) -> dict:
    spend = inputs.spend
    rate = calc.burn_rate(spent_micros=spend.quarter_spend, days=inputs.period.quarter_days_elapsed)
    left = inputs.period.year_days_left
    projected = spend.year_spend + rate * left
    return table(
        "forecast",
        "Forecast to year end at the quarter's burn rate",
        "forecast",
        [("", "text"), ("Amount", "row")],
        [
            ["Burn rate per day (this quarter)", rate],
            ["Days left in the fiscal year", left],
            ["Spent to date", spend.year_spend],
            ["Projected spend for the rest of the year", rate * left],
            ["Projected spend for the year", projected],
            ["Annual budget", spend.annual_budget],
            ["Projected under (over) budget", spend.annual_budget - projected],
        ],
        row_kinds=["money", "count", "money", "money", "money", "money", "money"],
    )


def runs_out_table(inputs: ReportInputs) -> dict:
    period, spend = inputs.period, inputs.spend
    days, left = period.quarter_days_elapsed, period.year_days_left
    runs_out = []
    for budget_id in inputs.org.budgets:
        allocated = spend.allocated_by_budget[budget_id]
        spent = spend.year_by_budget.get(budget_id, 0)
        budget_rate = calc.burn_rate(
            spent_micros=spend.quarter_by_budget.get(budget_id, 0), days=days
        )
        if budget_rate <= 0 or spent + budget_rate * left <= allocated:
            continue
        remaining = allocated - spent
        day = (
            period.cutoff
            if remaining <= 0
            else period.cutoff + timedelta(days=-(-remaining // budget_rate))
        )
        kind, owner = inputs.labels[budget_id]
        runs_out.append(
            [owner, kind, allocated, spent, spent + budget_rate * left, day.isoformat()]
        )
    runs_out.sort(key=lambda row: (row[5], -(row[4] - row[2]), row[0]))
    shown = runs_out[:FORECAST_TABLE_LIMIT]
    note = (
        f"{len(runs_out)} budgets are projected to run out before the year ends"
        + (f"; the {len(shown)} earliest are listed." if len(runs_out) > len(shown) else ".")
        if runs_out
        else "No budget is projected to run out before the year ends."
    )
    exhaust = table(
        "runs_out",
        "Budgets projected to run out",
        "forecast",
        [
            ("Budget", "text"),
            ("Kind", "text"),
            ("Allocated", "money"),
            ("Spent to date", "money"),
            ("Projected for the year", "money"),
            ("Runs out", "date"),
        ],
        shown,
        note=note,
    )
    exhaust["count_all"] = len(runs_out)
    return exhaust
