"""What every figure of the report is computed from, read once: the organisation, the grouped
usage, the ledger, and the spend sums derived from them. The figure modules take a
`ReportInputs` and read the database no further."""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from budgets.models import EntryKind
from people.models import Level
from pilots.comparison import PilotComparison
from reporting.figures import queries
from reporting.figures.period import ReportPeriod, month_key

Progress = Callable[[int, str], None]
POSTED_KINDS = (
    EntryKind.CARRYOVER_IN,
    EntryKind.CARRYOVER_OUT,
    EntryKind.FORFEITURE,
    EntryKind.EXPIRY,
)


@dataclass(frozen=True)
class Organisation:
    employees: dict[int, dict]
    levels: dict[int, Level]
    teams: dict[int, dict]
    projects: dict[int, dict]
    budgets: dict[int, dict]  # the fiscal year's budgets

    @property
    def levels_by_rank(self) -> list[Level]:
        return sorted(self.levels.values(), key=lambda level: level.rank)


@dataclass(frozen=True)
class Spend:
    """Spend per employee, project and budget from the one grouped scan, with the corrections.
    Totals take every correction posted in the period, whichever year's budget it is on; per
    budget, only this year's budgets' own."""

    quarter_by_employee: dict[int, int]
    year_by_employee: dict[int, int]
    quarter_by_project: dict[int | None, int]
    quarter_by_budget: dict[int, int]
    year_by_budget: dict[int, int]
    quarter_usage: int
    year_usage: int
    quarter_corrections: int
    year_corrections: int
    quarter_tokens: int
    quarter_events: int
    allocated_by_budget: dict[int, int]
    personal: dict[int, int]  # employee id -> the id of their personal budget

    @property
    def quarter_spend(self) -> int:
        return self.quarter_usage + self.quarter_corrections

    @property
    def year_spend(self) -> int:
        return self.year_usage + self.year_corrections

    @property
    def annual_budget(self) -> int:
        return sum(self.allocated_by_budget.values())

    @property
    def engineers(self) -> int:
        return len(self.personal)


@dataclass(frozen=True)
class ReportInputs:
    period: ReportPeriod
    org: Organisation
    spend: Spend
    month_rows: list[dict]  # spend, tokens, events per month, model, team and category
    ledger: dict[int, dict[str, int]]
    posted_quarter: dict[str, tuple[int, int]]
    posted_year: dict[str, tuple[int, int]]
    last_year_spend: int | None  # None when last year's quarter has no data at all
    approved: list[dict]
    final_role: dict[int, str]
    metrics: list[dict]
    labels: dict[int, tuple[str, str]]  # budget id -> (kind, owner)
    team_spend_by_month: dict[tuple[int | None, date], int]
    pilots: list[PilotComparison]  # each pilot that ran in the period, against its control


def report_inputs(*, period: ReportPeriod, as_of: datetime, step: Progress) -> ReportInputs:
    step(5, "Reading the organisation")
    org = Organisation(
        employees=queries.employees_by_id(),
        levels=queries.levels_by_id(),
        teams=queries.teams_by_id(),
        projects=queries.projects_by_id(),
        budgets=queries.budgets_by_id(period.fiscal_year),
    )
    step(15, "Summing usage by employee, budget and project")
    usage_rows = queries.usage_by_employee_budget_project(period)
    step(35, "Summing usage by month, model, team and category")
    # One more scan, grouped by all four at once (a few thousand rows), read several ways.
    month_rows = queries.usage_by_month(period, "model_name", "employee__team_id", "category")
    step(50, "Reading the ledger: budgets, carryover, forfeitures")
    ledger = queries.ledger_by_budget(period, as_of)
    posted_quarter = queries.entries_posted(
        period.quarter_period.start, period.cutoff, POSTED_KINDS
    )
    posted_year = queries.entries_posted(period.year_period.start, period.cutoff, POSTED_KINDS)
    last_year = period.last_year_quarter
    last_year_spend = queries.spend_between(last_year.start, last_year.end)
    last_year_has_data = (
        queries.has_events_between(last_year.start, last_year.end) or last_year_spend != 0
    )
    step(60, "Reading approvals and productivity metrics")
    approved, final_role = queries.approvals_of_quarter(period)
    metrics = queries.productivity_metrics(period)
    pilots = queries.pilot_comparisons(period)

    step(70, "Computing the figures")
    spend = spend_sums(period=period, org=org, usage_rows=usage_rows, ledger=ledger)
    team_spend_by_month: dict[tuple[int | None, date], int] = defaultdict(int)
    for row in month_rows:
        team_spend_by_month[(row["employee__team_id"], month_key(row["month"]))] += row["spend"]
    return ReportInputs(
        period=period,
        org=org,
        spend=spend,
        month_rows=month_rows,
        ledger=ledger,
        posted_quarter=posted_quarter,
        posted_year=posted_year,
        last_year_spend=last_year_spend if last_year_has_data else None,
        approved=approved,
        final_role=final_role,
        metrics=metrics,
        labels=budget_labels(org),
        team_spend_by_month=team_spend_by_month,
        pilots=pilots,
    )


def spend_sums(*, period: ReportPeriod, org: Organisation, usage_rows, ledger) -> Spend:
    quarter_by_employee: dict[int, int] = defaultdict(int)
    year_by_employee: dict[int, int] = defaultdict(int)
    quarter_by_project: dict[int | None, int] = defaultdict(int)
    year_by_budget: dict[int, int] = defaultdict(int)
    quarter_by_budget: dict[int, int] = defaultdict(int)
    quarter_tokens = quarter_events = 0
    for row in usage_rows:
        quarter_by_employee[row["employee_id"]] += row["quarter_spend"]
        year_by_employee[row["employee_id"]] += row["year_spend"]
        quarter_by_project[row["project_id"]] += row["quarter_spend"]
        year_by_budget[row["budget_id"]] += row["year_spend"]
        quarter_by_budget[row["budget_id"]] += row["quarter_spend"]
        quarter_tokens += row["quarter_tokens"]
        quarter_events += row["quarter_events"]
    for budget_id, entry in ledger.items():
        year_by_budget[budget_id] += entry["year_corrections"]
        quarter_by_budget[budget_id] += entry["quarter_corrections"]
    return Spend(
        quarter_by_employee=quarter_by_employee,
        year_by_employee=year_by_employee,
        quarter_by_project=quarter_by_project,
        quarter_by_budget=quarter_by_budget,
        year_by_budget=year_by_budget,
        quarter_usage=sum(quarter_by_employee.values()),
        year_usage=sum(year_by_employee.values()),
        quarter_corrections=queries.corrections_posted(period.quarter_period.start, period.cutoff),
        year_corrections=queries.corrections_posted(period.year_period.start, period.cutoff),
        quarter_tokens=quarter_tokens,
        quarter_events=quarter_events,
        allocated_by_budget={
            budget_id: ledger[budget_id]["allocated"] for budget_id in org.budgets
        },
        personal={
            row["employee_id"]: budget_id
            for budget_id, row in org.budgets.items()
            if row["employee_id"] is not None
        },
    )


def budget_labels(org: Organisation) -> dict[int, tuple[str, str]]:
    """Each budget's kind and owner as the tables name them."""
    labels = {}
    for budget_id, row in org.budgets.items():
        if row["employee_id"] is not None:
            person = org.employees[row["employee_id"]]
            name = f"{person['user__first_name']} {person['user__last_name']}".strip()
            labels[budget_id] = ("Personal", f"{name or person['user__email']}")
        elif row["team_id"] is not None:
            labels[budget_id] = ("Team pool", org.teams[row["team_id"]]["name"])
        else:
            project = org.projects[row["project_id"]]
            labels[budget_id] = ("Project", f"{project['name']} ({project['code']})")
    return labels
