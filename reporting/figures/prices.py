"""The price trend: what a million tokens cost on average in each month of the year to date."""

from collections import defaultdict
from datetime import date
from decimal import Decimal

from common.money import percent
from reporting import calculations as calc
from reporting.figures.inputs import ReportInputs
from reporting.figures.period import month_key
from reporting.figures.tables import table


def price_trend_table(inputs: ReportInputs, *, usd_per_token: Decimal) -> dict:
    period = inputs.period
    by_month: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for row in inputs.month_rows:
        month = month_key(row["month"])
        by_month[month][0] += row["spend"]
        by_month[month][1] += row["tokens"]
    rows, first_price = [], None
    for month in period.months(period.year_period.start, period.quarter_period.end):
        if month >= period.cutoff:
            break
        spend, tokens = by_month.get(month, (0, 0))
        price = calc.average_price_per_million(spent_micros=spend, tokens=tokens)
        if first_price is None and price:
            first_price = price
        more = None
        if price and first_price:
            # The same dollars buy first_price / price as many tokens as in the first month.
            more = str(percent(first_price - price, price))
        rows.append([month.strftime("%b %Y"), spend, tokens, price, more])
    return table(
        "price_trend",
        "Price trend: average cost per million tokens",
        "prices",
        [
            ("Month", "text"),
            ("Spend", "money"),
            ("Tokens", "tokens"),
            ("Per million tokens", "money"),
            ("More tokens per dollar than the first month", "percent"),
        ],
        rows,
        total=[
            "Year to date",
            sum(r[1] for r in rows),
            sum(r[2] for r in rows),
            calc.average_price_per_million(
                spent_micros=sum(r[1] for r in rows), tokens=sum(r[2] for r in rows)
            ),
            None,
        ],
        note=f"Usage events only (price corrections excluded). At the reference rate of "
        f"${usd_per_token.normalize()} per token a dollar buys "
        f"{int(1 / usd_per_token):,} tokens.",
    )
