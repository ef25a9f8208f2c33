"""Productivity: each team's spend per unit of a metric it records (merged pull requests, say),
this quarter and month by month over the year."""

from collections import defaultdict
from datetime import date
from decimal import Decimal

from common.money import spend_per_unit
from reporting.figures.inputs import ReportInputs
from reporting.figures.tables import table


def productivity_tables(inputs: ReportInputs) -> list[dict]:
    teams, quarter_months = inputs.org.teams, inputs.period.quarter_months
    units: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    spend: dict[tuple[str, int], int] = defaultdict(int)
    trend_units: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    trend_spend: dict[tuple[str, date], int] = defaultdict(int)
    for row in inputs.metrics:
        team_spend = inputs.team_spend_by_month.get((row["team_id"], row["month"]), 0)
        trend_units[(row["metric"], row["month"])] += row["value"]
        trend_spend[(row["metric"], row["month"])] += team_spend
        if row["month"] in quarter_months:
            units[(row["metric"], row["team_id"])] += row["value"]
            spend[(row["metric"], row["team_id"])] += team_spend
    rows = [
        [
            metric,
            f"{teams[team_id]['name']} ({teams[team_id]['department__name']})",
            str(units[(metric, team_id)]),
            spend[(metric, team_id)],
            spend_per_unit(spent_micros=spend[(metric, team_id)], units=units[(metric, team_id)]),
        ]
        for metric, team_id in sorted(
            units, key=lambda key: (key[0], teams[key[1]]["name"], key[1])
        )
    ]
    trend = [
        [
            metric,
            month.strftime("%b %Y"),
            str(trend_units[(metric, month)]),
            trend_spend[(metric, month)],
            spend_per_unit(
                spent_micros=trend_spend[(metric, month)], units=trend_units[(metric, month)]
            ),
        ]
        for metric, month in sorted(trend_units)
    ]
    return [
        table(
            "productivity",
            "Productivity: spend per unit by team this quarter",
            "productivity",
            [
                ("Metric", "text"),
                ("Team", "text"),
                ("Units", "decimal"),
                ("Team spend", "money"),
                ("Spend per unit", "money"),
            ],
            rows,
            note="The spend of the team's members in the months the team recorded the metric."
            if rows
            else "No team recorded a productivity metric this quarter. Finance or the teams "
            "record them in the admin (Productivity metrics, CSV import).",
        ),
        table(
            "productivity_trend",
            "Productivity trend: spend per unit by month",
            "productivity",
            [
                ("Metric", "text"),
                ("Month", "text"),
                ("Units", "decimal"),
                ("Spend of recording teams", "money"),
                ("Spend per unit", "money"),
            ],
            trend,
            note="" if trend else "No team recorded a productivity metric this fiscal year.",
        ),
    ]
