"""Where the quarter's spend went: by department, team and level (of the employee who spent), by
project, by model and by category. Each adds a price-corrections row when there were any, so
every table's rows add up to the headline's token spend."""

from collections import defaultdict
from collections.abc import Callable

from budgets.models import UsageCategory
from reporting import calculations as calc
from reporting.figures.inputs import ReportInputs
from reporting.figures.period import month_key
from reporting.figures.tables import (
    CORRECTIONS_LABEL,
    NO_DEPARTMENT,
    NO_PROJECT,
    NO_TEAM,
    pct,
    table,
)

ORG_COLUMNS = [
    ("", "text"),
    ("Quarter spend", "money"),
    ("Share", "percent"),
    ("Year to date", "money"),
    ("Engineers", "count"),
    ("Personal budgets", "money"),
    ("Used to date", "percent"),
]
ORG_NOTE = (
    "By the employee who spent, whichever budget paid. 'Personal budgets' "
    "are the annual personal budgets of the group's engineers."
)


def breakdown_tables(inputs: ReportInputs) -> list[dict]:
    return [*org_tables(inputs), project_table(inputs), model_table(inputs), category_table(inputs)]


def _group_by(inputs: ReportInputs, key_of: Callable[[dict], str | None]) -> tuple[dict, ...]:
    """Per group of employees: quarter spend, year spend, engineers and personal allocation."""
    spend = inputs.spend
    quarter, year, heads, allocated = (defaultdict(int) for _ in range(4))
    for employee_id, row in inputs.org.employees.items():
        key = key_of(row)
        quarter[key] += spend.quarter_by_employee.get(employee_id, 0)
        year[key] += spend.year_by_employee.get(employee_id, 0)
        if employee_id in spend.personal:
            heads[key] += 1
            allocated[key] += spend.allocated_by_budget[spend.personal[employee_id]]
    return quarter, year, heads, allocated


def org_tables(inputs: ReportInputs) -> list[dict]:
    teams, levels = inputs.org.teams, inputs.org.levels

    def team_name(row):
        if not row["team_id"]:
            return None
        team = teams[row["team_id"]]
        return f"{team['name']} ({team['department__name']})"

    return [
        _org_table(
            inputs,
            "by_department",
            "Spend by department",
            lambda row: teams[row["team_id"]]["department__name"] if row["team_id"] else None,
            no_label=NO_DEPARTMENT,
        ),
        _org_table(inputs, "by_team", "Spend by team", team_name, no_label=NO_TEAM),
        _org_table(
            inputs,
            "by_level",
            "Spend by level",
            lambda row: levels[row["level_id"]].name,
            order=[level.name for level in inputs.org.levels_by_rank],
        ),
    ]


def _org_table(
    inputs: ReportInputs,
    key: str,
    title: str,
    key_of: Callable[[dict], str | None],
    *,
    no_label: str = "",
    order: list[str] | None = None,
) -> dict:
    spend = inputs.spend
    quarter_spend, year_spend = spend.quarter_spend, spend.year_spend
    quarter, year, heads, allocated = _group_by(inputs, key_of)
    names = order or sorted((k for k in set(quarter) | set(heads) | set(allocated) if k), key=str)
    if None in quarter or None in heads or None in allocated:
        names = [*names, None]
    rows = [
        [
            name if name is not None else no_label,
            quarter[name],
            pct(quarter[name], quarter_spend),
            year[name],
            heads[name],
            allocated[name],
            pct(year[name], allocated[name]),
        ]
        for name in names
        # a group with an allocation but no spend and no engineers still shows, so the
        # allocation column adds up to its total
        if quarter[name] or year[name] or heads[name] or allocated[name]
    ]
    if order is None:
        rows.sort(key=lambda r: (-r[1], r[0]))
    if spend.quarter_corrections or spend.year_corrections:
        rows.append(
            [
                CORRECTIONS_LABEL,
                spend.quarter_corrections,
                pct(spend.quarter_corrections, quarter_spend),
                spend.year_corrections,
                0,
                0,
                None,
            ]
        )
    all_allocated = sum(allocated.values())
    return table(
        key,
        title,
        "breakdowns",
        ORG_COLUMNS,
        rows,
        total=[
            "Total",
            quarter_spend,
            pct(quarter_spend, quarter_spend),
            year_spend,
            spend.engineers,
            all_allocated,
            pct(year_spend, all_allocated),
        ],
        note=ORG_NOTE,
    )


def project_table(inputs: ReportInputs) -> dict:
    spend, projects = inputs.spend, inputs.org.projects
    quarter_spend, by_project = spend.quarter_spend, spend.quarter_by_project
    project_allocated = {
        row["project_id"]: spend.allocated_by_budget[budget_id]
        for budget_id, row in inputs.org.budgets.items()
        if row["project_id"] is not None
    }
    # Every project with spend this quarter or an allocation this year gets a row, so the
    # allocation column adds up to its total (a project allocated but unused shows $0 spend).
    project_spend = {
        **dict.fromkeys(project_allocated, 0),
        **{k: v for k, v in by_project.items() if k is not None},
    }
    rows = []
    for project_id, amount in sorted(
        project_spend.items(), key=lambda item: (-item[1], str(item[0]))
    ):
        project = projects[project_id]
        rows.append(
            [
                f"{project['name']} ({project['code']})",
                amount,
                pct(amount, quarter_spend),
                project_allocated.get(project_id, 0),
            ]
        )
    if by_project.get(None, 0) or not rows:
        no_project = by_project.get(None, 0)
        rows.append([NO_PROJECT, no_project, pct(no_project, quarter_spend), 0])
    if spend.quarter_corrections:
        corrections = spend.quarter_corrections
        rows.append([CORRECTIONS_LABEL, corrections, pct(corrections, quarter_spend), 0])
    return table(
        "by_project",
        "Spend by project",
        "breakdowns",
        [
            ("", "text"),
            ("Quarter spend", "money"),
            ("Share", "percent"),
            ("Project allocation", "money"),
        ],
        rows,
        total=[
            "Total",
            quarter_spend,
            pct(quarter_spend, quarter_spend),
            sum(project_allocated.values()),
        ],
        note="By the project the event named; usage outside projects is 'No project'.",
    )


def model_table(inputs: ReportInputs) -> dict:
    spend, quarter_months = inputs.spend, inputs.period.quarter_months
    quarter_spend, corrections = spend.quarter_spend, spend.quarter_corrections
    by_model: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in inputs.month_rows:
        if month_key(row["month"]) in quarter_months:
            by_model[row["model_name"]][0] += row["spend"]
            by_model[row["model_name"]][1] += row["tokens"]
    rows = [
        [
            name,
            amount,
            pct(amount, quarter_spend),
            tokens,
            calc.average_price_per_million(spent_micros=amount, tokens=tokens),
        ]
        for name, (amount, tokens) in sorted(by_model.items(), key=lambda i: (-i[1][0], i[0]))
    ]
    if corrections:
        rows.append([CORRECTIONS_LABEL, corrections, pct(corrections, quarter_spend), 0, None])
    return table(
        "by_model",
        "Spend by model",
        "breakdowns",
        [
            ("", "text"),
            ("Quarter spend", "money"),
            ("Share", "percent"),
            ("Tokens", "tokens"),
            ("Per million tokens", "money"),
        ],
        rows,
        total=[
            "Total",
            quarter_spend,
            pct(quarter_spend, quarter_spend),
            spend.quarter_tokens,
            calc.average_price_per_million(
                spent_micros=spend.quarter_usage, tokens=spend.quarter_tokens
            ),
        ],
    )


def category_table(inputs: ReportInputs) -> dict:
    spend, quarter_months = inputs.spend, inputs.period.quarter_months
    quarter_spend, corrections = spend.quarter_spend, spend.quarter_corrections
    by_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in inputs.month_rows:
        if month_key(row["month"]) in quarter_months:
            by_category[row["category"]][0] += row["spend"]
            by_category[row["category"]][1] += row["events"]
    labels = dict(UsageCategory.choices)
    rows = [
        [labels.get(category, category), amount, pct(amount, quarter_spend), events]
        for category, (amount, events) in sorted(
            by_category.items(), key=lambda i: (-i[1][0], i[0])
        )
    ]
    if corrections:
        rows.append([CORRECTIONS_LABEL, corrections, pct(corrections, quarter_spend), 0])
    return table(
        "by_category",
        "Spend by category",
        "breakdowns",
        [("", "text"), ("Quarter spend", "money"), ("Share", "percent"), ("Events", "count")],
        rows,
        total=[
            "Total",
            quarter_spend,
            pct(quarter_spend, quarter_spend),
            spend.quarter_events,
        ],
    )
