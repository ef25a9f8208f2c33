"""The headline: the quarter's and the year's token spend against the budget to date."""

from common.money import divide_micros, percent
from reporting import calculations as calc
from reporting.figures.inputs import ReportInputs
from reporting.figures.tables import CORRECTIONS_LABEL, pct, table

ROW_KINDS = [
    "money",
    "money",
    "money",
    "money",
    "money",
    "percent",
    "money",
    "money",
    "percent",
    "count",
    "money",
    "count",
    "tokens",
    "money",
]


def headline_table(inputs: ReportInputs) -> dict:
    period, spend = inputs.period, inputs.spend
    quarter_spend, year_spend = spend.quarter_spend, spend.year_spend
    engineers, last_year_spend = spend.engineers, inputs.last_year_spend
    year_days = period.year_period.days
    # The budget to date: the annual budget spread evenly over the days of the year.
    quarter_budget = divide_micros(spend.annual_budget * period.quarter_days_elapsed, year_days)
    year_budget = divide_micros(spend.annual_budget * period.year_days_elapsed, year_days)
    change = (
        None
        if not last_year_spend
        else str(percent(quarter_spend - last_year_spend, last_year_spend))
    )
    rows = [
        ["Usage", spend.quarter_usage, spend.year_usage],
        [CORRECTIONS_LABEL, spend.quarter_corrections, spend.year_corrections],
        ["Token spend", quarter_spend, year_spend],
        ["Budget for the period (annual budget pro rata)", quarter_budget, year_budget],
        ["Under (over) budget", quarter_budget - quarter_spend, year_budget - year_spend],
        ["Spend as share of budget", pct(quarter_spend, quarter_budget), None],
        ["Annual budget", None, spend.annual_budget],
        ["Same quarter last year", last_year_spend, None],
        ["Change against last year", change, None],
        ["Engineers with a budget", engineers, engineers],
        [
            "Spend per engineer",
            divide_micros(quarter_spend, engineers) if engineers else None,
            divide_micros(year_spend, engineers) if engineers else None,
        ],
        ["Usage events", spend.quarter_events, None],
        ["Tokens bought", spend.quarter_tokens, None],
        [
            "Average price per million tokens",
            calc.average_price_per_million(
                spent_micros=spend.quarter_usage, tokens=spend.quarter_tokens
            ),
            None,
        ],
    ]
    rows[5][2] = pct(year_spend, year_budget)
    return table(
        "headline",
        "Headline: token spend against budget",
        "headline",
        [("Line item", "text"), ("Quarter", "row"), ("Year to date", "row")],
        rows,
        row_kinds=list(ROW_KINDS),
        note="Token spend = usage events (dated when they occurred) + price corrections "
        "posted in the period. The annual budget is every allocation, increase, transfer, "
        "carryover and adjustment on the year's budgets as of generation; the budget for the "
        "period is that pro rata by days elapsed.",
    )
