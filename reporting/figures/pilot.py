"""The pilot cohort against everyone else: the cohort's spend per engineer, and the pilot teams'
spend per unit of output."""

from collections import defaultdict
from decimal import Decimal

from common.money import divide_micros
from reporting import calculations as calc
from reporting.figures.inputs import ReportInputs
from reporting.figures.tables import CORRECTIONS_LABEL, pct, table

COHORTS = ["Pilot cohort", "Everyone else"]


def pilot_tables(inputs: ReportInputs) -> list[dict]:
    return [cohort_table(inputs), pilot_productivity_table(inputs)]


def pilot_teams(employees: dict[int, dict]) -> set[int]:
    """Teams where at least half the members are in the pilot cohort."""
    members, pilots = defaultdict(int), defaultdict(int)
    for row in employees.values():
        if row["team_id"] is not None:
            members[row["team_id"]] += 1
            pilots[row["team_id"]] += bool(row["pilot_cohort"])
    return {team for team, size in members.items() if 2 * pilots[team] >= size}


def cohort_table(inputs: ReportInputs) -> dict:
    corrections = inputs.spend.quarter_corrections
    spend, heads = defaultdict(int), defaultdict(int)
    for employee_id, row in inputs.org.employees.items():
        cohort = COHORTS[0] if row["pilot_cohort"] else COHORTS[1]
        spend[cohort] += inputs.spend.quarter_by_employee.get(employee_id, 0)
        if employee_id in inputs.spend.personal:
            heads[cohort] += 1
    total_spend = sum(spend.values()) + corrections
    rows = [
        [
            cohort,
            heads[cohort],
            spend[cohort],
            pct(spend[cohort], total_spend),
            divide_micros(spend[cohort], heads[cohort]) if heads[cohort] else None,
        ]
        for cohort in COHORTS
    ]
    if corrections:
        rows.append([CORRECTIONS_LABEL, 0, corrections, pct(corrections, total_spend), None])
    heads_total = sum(heads.values())
    return table(
        "pilot",
        "Pilot cohort against the rest",
        "pilot",
        [
            ("", "text"),
            ("Engineers", "count"),
            ("Quarter spend", "money"),
            ("Share", "percent"),
            ("Spend per engineer", "money"),
        ],
        rows,
        total=[
            "Total",
            heads_total,
            total_spend,
            pct(total_spend, total_spend),
            divide_micros(total_spend, heads_total) if heads_total else None,
        ],
    )


def pilot_productivity_table(inputs: ReportInputs) -> dict:
    quarter_months, teams = inputs.period.quarter_months, pilot_teams(inputs.org.employees)
    units: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    unit_spend: dict[tuple[str, str], int] = defaultdict(int)
    for row in inputs.metrics:
        if row["month"] not in quarter_months:
            continue
        cohort = "Pilot teams" if row["team_id"] in teams else "Other teams"
        units[(row["metric"], cohort)] += row["value"]
        unit_spend[(row["metric"], cohort)] += inputs.team_spend_by_month.get(
            (row["team_id"], row["month"]), 0
        )
    rows = [
        [
            metric,
            cohort,
            str(units[(metric, cohort)]),
            unit_spend[(metric, cohort)],
            calc.spend_per_unit(
                spent_micros=unit_spend[(metric, cohort)], units=units[(metric, cohort)]
            ),
        ]
        for metric, cohort in sorted(units)
    ]
    return table(
        "pilot_productivity",
        "Pilot teams against the rest: spend per unit of output",
        "pilot",
        [
            ("Metric", "text"),
            ("Teams", "text"),
            ("Units", "decimal"),
            ("Spend of those teams", "money"),
            ("Spend per unit", "money"),
        ],
        rows,
        note="A team counts as a pilot team when at least half its members are in the pilot "
        "cohort. Only the months a team recorded the metric count."
        if rows
        else "No team recorded a productivity metric this quarter.",
    )
