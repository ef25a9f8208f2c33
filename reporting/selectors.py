"""Every number of the quarterly report, from one place: `report_data` gathers them with a fixed
handful of grouped SQL queries (none loops over events in Python) and returns a snapshot of plain
JSON values: money as integer micro-dollars, percentages as decimal strings. The PDF, the CSV and
the web page all render this snapshot; none of them computes a figure of its own.

Where a number comes from:
- spend is the usage ledger: each usage entry is one usage event (same amount), dated by when the
  event occurred (company zone), plus the usage-correction entries (repricing) posted in the period;
- budgets are the sums of the non-usage ledger entries of the fiscal year's budgets;
- carryover and forfeitures are the CARRYOVER_IN / CARRYOVER_OUT / FORFEITURE / EXPIRY entries.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from approvals.models import ApprovalRequest, ApprovalStep, RequestKind, RequestState, StepState
from budgets.models import Budget, EntryKind, LedgerEntry, UsageCategory, UsageEvent
from common import fiscal
from common.money import Micros, divide_micros
from people.models import Employee, Level, Project, Team
from people.selectors import company_settings
from reporting import calculations as calc
from reporting.models import ProductivityMetric

SNAPSHOT_VERSION = 1
FORECAST_TABLE_LIMIT = 25
NO_TEAM, NO_DEPARTMENT, NO_PROJECT = "No team", "No department", "No project"
CORRECTIONS_LABEL = "Price corrections"

Progress = Callable[[int, str], None]


@dataclass(frozen=True)
class ReportPeriod:
    fiscal_year: int
    quarter: int
    quarter_period: fiscal.Period
    year_period: fiscal.Period
    last_year_quarter: fiscal.Period
    cutoff: date  # the first day not covered: the quarter's end, or tomorrow when it is running

    @property
    def quarter_days_elapsed(self) -> int:
        return max(0, (min(self.cutoff, self.quarter_period.end) - self.quarter_period.start).days)

    @property
    def year_days_elapsed(self) -> int:
        return max(0, (self.cutoff - self.year_period.start).days)

    @property
    def year_days_left(self) -> int:
        return max(0, (self.year_period.end - self.cutoff).days)

    def months(self, start: date, end: date) -> list[date]:
        months, month = [], start
        while month < end:
            months.append(month)
            month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        return months


def moment(day: date) -> datetime:
    """Midnight at the start of a day in the company's zone, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def report_period(*, fiscal_year: int, quarter: int, today: date | None = None) -> ReportPeriod:
    start_month = company_settings().fiscal_year_start_month
    quarter_period = fiscal.fiscal_quarter_period(fiscal_year, quarter, start_month)
    today = today or timezone.localdate()
    cutoff = min(quarter_period.end, today + timedelta(days=1))
    return ReportPeriod(
        fiscal_year=fiscal_year,
        quarter=quarter,
        quarter_period=quarter_period,
        year_period=fiscal.fiscal_year_period(fiscal_year, start_month),
        last_year_quarter=fiscal.fiscal_quarter_period(fiscal_year - 1, quarter, start_month),
        cutoff=max(cutoff, quarter_period.start),
    )


# -- tables -----------------------------------------------------------------------------------
# A table is a dict so the snapshot is plain JSON: {"key", "title", "section", "columns":
# [{"label", "kind"}], "rows": [[...]], "total": [...] or None, "note"}. Kinds: text, money
# (micros), count, tokens, percent (decimal string), decimal, date (ISO). A column of kind "row"
# takes each row's own kind from "row_kinds".


def _table(key, title, section, columns, rows, *, total=None, note="", row_kinds=None) -> dict:
    table = {
        "key": key,
        "title": title,
        "section": section,
        "columns": [{"label": label, "kind": kind} for label, kind in columns],
        "rows": rows,
        "total": total,
        "note": note,
    }
    if row_kinds is not None:
        table["row_kinds"] = row_kinds
    return table


def _pct(part: int, whole: int) -> str | None:
    value = calc.percent(part, whole)
    return None if value is None else str(value)


def _share_rows(groups: dict, total: int, extra=lambda key: []) -> list:
    """Rows of (label, spend, share of total, ...) largest spend first."""
    ordered = sorted(groups.items(), key=lambda item: (-item[1], str(item[0])))
    return [[label, spend, _pct(spend, total), *extra(label)] for label, spend in ordered]  # nosec B610


# -- the queries ------------------------------------------------------------------------------


def _usage_by_employee_budget_project(period: ReportPeriod) -> list[dict]:
    """One scan of the year's events to the cutoff, grouped small: per (employee, budget,
    project), the quarter's and the year's spend, tokens and events."""
    in_quarter = Q(occurred_at__gte=moment(period.quarter_period.start))
    tokens = F("input_tokens") + F("output_tokens") + F("cached_input_tokens")
    return list(
        UsageEvent.objects.filter(
            occurred_at__gte=moment(period.year_period.start),
            occurred_at__lt=moment(period.cutoff),
        )
        .values("employee_id", "budget_id", "project_id")
        .annotate(
            quarter_spend=Sum("cost_micros", filter=in_quarter, default=0),
            year_spend=Sum("cost_micros", default=0),
            quarter_tokens=Sum(tokens, filter=in_quarter, default=0),
            quarter_events=Count("id", filter=in_quarter),
        )
        .order_by()
    )


def _usage_by_month(period: ReportPeriod, *group: str) -> list[dict]:
    """The year's events to the cutoff per month (company zone) and the given columns."""
    tokens = F("input_tokens") + F("output_tokens") + F("cached_input_tokens")
    return list(
        UsageEvent.objects.filter(
            occurred_at__gte=moment(period.year_period.start),
            occurred_at__lt=moment(period.cutoff),
        )
        .annotate(month=TruncMonth("occurred_at", tzinfo=timezone.get_default_timezone()))
        .values("month", *group)
        .annotate(
            spend=Sum("cost_micros", default=0),
            tokens=Sum(tokens, default=0),
            events=Count("id"),
        )
        .order_by()
    )


def _month_key(value) -> date:
    if isinstance(value, datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


def _categories_of_quarter(month_rows: list[dict], period: ReportPeriod) -> list[dict]:
    quarter_months = set(period.months(period.quarter_period.start, period.quarter_period.end))
    by_category: dict[str, dict] = {}
    for row in month_rows:
        if _month_key(row["month"]) not in quarter_months:
            continue
        total = by_category.setdefault(
            row["category"], {"category": row["category"], "spend": 0, "events": 0}
        )
        total["spend"] += row["spend"]
        total["events"] += row["events"]
    return list(by_category.values())


def _spend_between(start: date, end: date) -> Micros:
    """Usage events plus corrections posted in [start, end): the ledger's spend of a period."""
    events = UsageEvent.objects.filter(
        occurred_at__gte=moment(start), occurred_at__lt=moment(end)
    ).aggregate(total=Sum("cost_micros", default=0))["total"]
    return events + _corrections_posted(start, end)


def _corrections_posted(start: date, end: date) -> Micros:
    """Price corrections posted in [start, end), on any fiscal year's budget: a correction of
    last year's events posted this quarter is this quarter's (the quarter that held the events
    was reported before it existed)."""
    return LedgerEntry.objects.filter(
        kind=EntryKind.USAGE_CORRECTION, created_at__gte=moment(start), created_at__lt=moment(end)
    ).aggregate(total=Sum("amount_micros", default=0))["total"]


# The close of the fiscal year: what it carries out and forfeits is not part of the year's
# budget (it is what was left of it), nor are holds forfeited after it.
CLOSE_KINDS = (EntryKind.CARRYOVER_OUT, EntryKind.FORFEITURE)


def _ledger_by_budget(period: ReportPeriod, as_of: datetime) -> dict[int, dict[str, int]]:
    """Per budget of the fiscal year, the sum of its non-usage entries per kind (posted up to
    generation), and its usage corrections posted before the cutoff, split quarter / year."""
    rows = (
        LedgerEntry.objects.filter(budget__fiscal_year=period.fiscal_year, created_at__lte=as_of)
        .exclude(kind=EntryKind.USAGE)
        .exclude(kind__in=CLOSE_KINDS, rollover_run__fiscal_year=period.fiscal_year)
        .values("budget_id", "kind")
        .annotate(
            total=Sum("amount_micros", default=0),
            quarter_corrections=Sum(
                "amount_micros",
                filter=Q(
                    kind=EntryKind.USAGE_CORRECTION,
                    created_at__gte=moment(period.quarter_period.start),
                    created_at__lt=moment(period.cutoff),
                ),
                default=0,
            ),
            year_corrections=Sum(
                "amount_micros",
                filter=Q(kind=EntryKind.USAGE_CORRECTION, created_at__lt=moment(period.cutoff)),
                default=0,
            ),
        )
        .order_by()
    )
    ledger: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        entry = ledger[row["budget_id"]]
        if row["kind"] == EntryKind.USAGE_CORRECTION:
            entry["quarter_corrections"] += row["quarter_corrections"]
            entry["year_corrections"] += row["year_corrections"]
        else:
            entry[row["kind"]] += row["total"]
            entry["allocated"] += row["total"]
    return ledger


def _entries_posted(start: date, end: date, kinds) -> dict[str, tuple[int, int]]:
    """Count and sum per kind of the entries posted in [start, end) (any fiscal year)."""
    return {
        row["kind"]: (row["count"], row["total"])
        for row in LedgerEntry.objects.filter(
            kind__in=kinds, created_at__gte=moment(start), created_at__lt=moment(end)
        )
        .values("kind")
        .annotate(count=Count("id"), total=Sum("amount_micros", default=0))
        .order_by()
    }


# -- the report -------------------------------------------------------------------------------


def report_data(
    *,
    fiscal_year: int,
    quarter: int,
    as_of: datetime | None = None,
    include_appendix: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Every figure of the quarter's report (and the year to date) as a JSON-ready snapshot."""
    as_of = as_of or timezone.now()
    step = progress or (lambda percent, label: None)
    settings_row = company_settings()
    period = report_period(
        fiscal_year=fiscal_year, quarter=quarter, today=timezone.localtime(as_of).date()
    )
    q_start, q_end = period.quarter_period.start, period.quarter_period.end

    step(5, "Reading the organisation")
    employees = {
        row["id"]: row
        for row in Employee.objects.values(
            "id",
            "level_id",
            "team_id",
            "pilot_cohort",
            "user__email",
            "user__first_name",
            "user__last_name",
            department_id=F("team__department_id"),
        ).order_by()
    }
    levels = {row.pk: row for row in Level.objects.all()}
    teams = {
        row["id"]: row for row in Team.objects.values("id", "name", "department__name").order_by()
    }
    projects = {row["id"]: row for row in Project.objects.values("id", "code", "name").order_by()}
    budgets = {
        row["id"]: row
        for row in Budget.objects.filter(fiscal_year=fiscal_year)
        .values("id", "employee_id", "team_id", "project_id")
        .order_by()
    }

    step(15, "Summing usage by employee, budget and project")
    usage_rows = _usage_by_employee_budget_project(period)
    step(35, "Summing usage by month, model, team and category")
    # One more scan, grouped by all four at once (a few thousand rows), read four ways below.
    model_months = team_months = _usage_by_month(
        period, "model_name", "employee__team_id", "category"
    )
    categories = _categories_of_quarter(model_months, period)
    step(50, "Reading the ledger: budgets, carryover, forfeitures")
    ledger = _ledger_by_budget(period, as_of)
    posted_kinds = (
        EntryKind.CARRYOVER_IN,
        EntryKind.CARRYOVER_OUT,
        EntryKind.FORFEITURE,
        EntryKind.EXPIRY,
    )
    posted_quarter = _entries_posted(q_start, period.cutoff, posted_kinds)
    posted_year = _entries_posted(period.year_period.start, period.cutoff, posted_kinds)
    last_year_spend = _spend_between(period.last_year_quarter.start, period.last_year_quarter.end)
    last_year_has_data = (
        UsageEvent.objects.filter(
            occurred_at__gte=moment(period.last_year_quarter.start),
            occurred_at__lt=moment(period.last_year_quarter.end),
        ).exists()
        or last_year_spend != 0
    )

    step(60, "Reading approvals and productivity metrics")
    approvals = _approvals(period)
    metrics = list(
        ProductivityMetric.objects.filter(month__gte=period.year_period.start, month__lt=q_end)
        .values("team_id", "month", "metric", "value")
        .order_by()
    )

    step(70, "Computing the figures")
    # Spend per employee / project / budget from the one grouped scan.
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
    quarter_usage = sum(quarter_by_employee.values())
    year_usage = sum(year_by_employee.values())
    # Totals take every correction posted in the period, whichever year's budget it is on;
    # per budget, only this year's budgets' own.
    quarter_corrections = _corrections_posted(q_start, period.cutoff)
    year_corrections = _corrections_posted(period.year_period.start, period.cutoff)
    for budget_id, entry in ledger.items():
        year_by_budget[budget_id] += entry["year_corrections"]
        quarter_by_budget[budget_id] += entry["quarter_corrections"]
    quarter_spend = quarter_usage + quarter_corrections
    year_spend = year_usage + year_corrections
    allocated_by_budget = {budget_id: ledger[budget_id]["allocated"] for budget_id in budgets}
    annual_budget = sum(allocated_by_budget.values())
    personal = {
        row["employee_id"]: budget_id
        for budget_id, row in budgets.items()
        if row["employee_id"] is not None
    }
    engineers = len(personal)

    tables: list[dict] = []
    headline = _headline(
        period=period,
        quarter_usage=quarter_usage,
        quarter_corrections=quarter_corrections,
        year_usage=year_usage,
        year_corrections=year_corrections,
        last_year_spend=last_year_spend if last_year_has_data else None,
        annual_budget=annual_budget,
        engineers=engineers,
        quarter_tokens=quarter_tokens,
        quarter_events=quarter_events,
    )
    tables.append(headline)

    def group_by(key_of: Callable[[dict], str]) -> tuple[dict, dict, dict, dict]:
        spend, year, heads, allocated = (defaultdict(int) for _ in range(4))
        for employee_id, row in employees.items():
            key = key_of(row)
            spend[key] += quarter_by_employee.get(employee_id, 0)
            year[key] += year_by_employee.get(employee_id, 0)
            if employee_id in personal:
                heads[key] += 1
                allocated[key] += allocated_by_budget[personal[employee_id]]
        return spend, year, heads, allocated

    org_columns = [
        ("", "text"),
        ("Quarter spend", "money"),
        ("Share", "percent"),
        ("Year to date", "money"),
        ("Engineers", "count"),
        ("Personal budgets", "money"),
        ("Used to date", "percent"),
    ]
    for key, title, key_of, order in (
        (
            "by_department",
            "Spend by department",
            lambda row: teams[row["team_id"]]["department__name"] if row["team_id"] else None,
            None,
        ),
        (
            "by_team",
            "Spend by team",
            lambda row: (
                f"{teams[row['team_id']]['name']} ({teams[row['team_id']]['department__name']})"
                if row["team_id"]
                else None
            ),
            None,
        ),
        (
            "by_level",
            "Spend by level",
            lambda row: levels[row["level_id"]].name,
            [level.name for level in sorted(levels.values(), key=lambda lv: lv.rank)],
        ),
    ):
        spend, year, heads, allocated = group_by(key_of)
        names = order or sorted((k for k in set(spend) | set(heads) | set(allocated) if k), key=str)
        if None in spend or None in heads or None in allocated:
            names = [*names, None]
        no_label = {"by_department": NO_DEPARTMENT, "by_team": NO_TEAM}.get(key, "")
        rows = [
            [
                name if name is not None else no_label,
                spend[name],
                _pct(spend[name], quarter_spend),
                year[name],
                heads[name],
                allocated[name],
                _pct(year[name], allocated[name]),
            ]
            for name in names
            # a group with an allocation but no spend and no engineers still shows, so the
            # allocation column adds up to its total
            if spend[name] or year[name] or heads[name] or allocated[name]
        ]
        if order is None:
            rows.sort(key=lambda r: (-r[1], r[0]))
        if quarter_corrections or year_corrections:
            rows.append(
                [
                    CORRECTIONS_LABEL,
                    quarter_corrections,
                    _pct(quarter_corrections, quarter_spend),
                    year_corrections,
                    0,
                    0,
                    None,
                ]
            )
        all_allocated = sum(allocated.values())
        tables.append(
            _table(
                key,
                title,
                "breakdowns",
                org_columns,
                rows,
                total=[
                    "Total",
                    quarter_spend,
                    _pct(quarter_spend, quarter_spend),
                    year_spend,
                    engineers,
                    all_allocated,
                    _pct(year_spend, all_allocated),
                ],
                note="By the employee who spent, whichever budget paid. 'Personal budgets' "
                "are the annual personal budgets of the group's engineers.",
            )
        )

    project_allocated = {
        row["project_id"]: allocated_by_budget[budget_id]
        for budget_id, row in budgets.items()
        if row["project_id"] is not None
    }
    project_rows = []
    # Every project with spend this quarter or an allocation this year gets a row, so the
    # allocation column adds up to its total (a project allocated but unused shows $0 spend).
    project_spend = {
        **dict.fromkeys(project_allocated, 0),
        **{k: v for k, v in quarter_by_project.items() if k is not None},
    }
    for project_id, spend in sorted(
        project_spend.items(), key=lambda item: (-item[1], str(item[0]))
    ):
        project = projects[project_id]
        project_rows.append(
            [
                f"{project['name']} ({project['code']})",
                spend,
                _pct(spend, quarter_spend),
                project_allocated.get(project_id, 0),
            ]
        )
    if quarter_by_project.get(None, 0) or not project_rows:
        no_project = quarter_by_project.get(None, 0)
        project_rows.append([NO_PROJECT, no_project, _pct(no_project, quarter_spend), 0])
    if quarter_corrections:
        project_rows.append(
            [CORRECTIONS_LABEL, quarter_corrections, _pct(quarter_corrections, quarter_spend), 0]
        )
    tables.append(
        _table(
            "by_project",
            "Spend by project",
            "breakdowns",
            [
                ("", "text"),
                ("Quarter spend", "money"),
                ("Share", "percent"),
                ("Project allocation", "money"),
            ],
            project_rows,
            total=[
                "Total",
                quarter_spend,
                _pct(quarter_spend, quarter_spend),
                sum(project_allocated.values()),
            ],
            note="By the project the event named; usage outside projects is 'No project'.",
        )
    )

    # Model (this quarter) and price trend (each month of the year to date).
    quarter_months = set(period.months(q_start, q_end))
    by_model: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_month: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for row in model_months:
        month = _month_key(row["month"])
        by_month[month][0] += row["spend"]
        by_month[month][1] += row["tokens"]
        if month in quarter_months:
            by_model[row["model_name"]][0] += row["spend"]
            by_model[row["model_name"]][1] += row["tokens"]
    model_rows = [
        [
            name,
            spend,
            _pct(spend, quarter_spend),
            tokens,
            calc.average_price_per_million(spent_micros=spend, tokens=tokens),
        ]
        for name, (spend, tokens) in sorted(by_model.items(), key=lambda i: (-i[1][0], i[0]))
    ]
    if quarter_corrections:
        model_rows.append(
            [
                CORRECTIONS_LABEL,
                quarter_corrections,
                _pct(quarter_corrections, quarter_spend),
                0,
                None,
            ]
        )
    tables.append(
        _table(
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
            model_rows,
            total=[
                "Total",
                quarter_spend,
                _pct(quarter_spend, quarter_spend),
                quarter_tokens,
                calc.average_price_per_million(spent_micros=quarter_usage, tokens=quarter_tokens),
            ],
        )
    )
    labels = dict(UsageCategory.choices)
    category_rows = [
        [labels.get(row["category"], row["category"]), row["spend"], None, row["events"]]
        for row in sorted(categories, key=lambda r: (-r["spend"], r["category"]))
    ]
    for row in category_rows:
        row[2] = _pct(row[1], quarter_spend)
    if quarter_corrections:
        category_rows.append(
            [CORRECTIONS_LABEL, quarter_corrections, _pct(quarter_corrections, quarter_spend), 0]
        )
    tables.append(
        _table(
            "by_category",
            "Spend by category",
            "breakdowns",
            [("", "text"), ("Quarter spend", "money"), ("Share", "percent"), ("Events", "count")],
            category_rows,
            total=["Total", quarter_spend, _pct(quarter_spend, quarter_spend), quarter_events],
        )
    )

    step(78, "Utilisation, baseline and forecast")
    tables.extend(
        _utilisation(
            budgets=budgets,
            allocated_by_budget=allocated_by_budget,
            year_by_budget=year_by_budget,
        )
    )
    tables.append(
        _baseline(
            period=period,
            levels=levels,
            employees=employees,
            personal=personal,
            year_by_employee=year_by_employee,
        )
    )
    tables.extend(
        _forecast(
            period=period,
            budgets=budgets,
            allocated_by_budget=allocated_by_budget,
            year_by_budget=year_by_budget,
            quarter_by_budget=quarter_by_budget,
            annual_budget=annual_budget,
            quarter_spend=quarter_spend,
            year_spend=year_spend,
            labels=_budget_labels(budgets, employees, teams, projects),
        )
    )
    tables.append(_carryover(ledger=ledger, year_by_budget=year_by_budget))
    tables.append(_forfeitures(posted_quarter=posted_quarter, posted_year=posted_year))
    tables.append(
        _price_trend(
            period=period,
            by_month=by_month,
            usd_per_token=settings_row.reference_rate_usd_per_token,
        )
    )
    tables.extend(approvals)

    step(85, "Pilot cohort and productivity")
    team_spend_by_month: dict[tuple[int | None, date], int] = defaultdict(int)
    for row in team_months:
        team_spend_by_month[(row["employee__team_id"], _month_key(row["month"]))] += row["spend"]
    pilot_teams = _pilot_teams(employees)
    tables.extend(
        _pilot(
            employees=employees,
            personal=personal,
            quarter_by_employee=quarter_by_employee,
            quarter_corrections=quarter_corrections,
            metrics=metrics,
            quarter_months=quarter_months,
            team_spend_by_month=team_spend_by_month,
            pilot_teams=pilot_teams,
        )
    )
    tables.extend(
        _productivity(
            period=period,
            metrics=metrics,
            teams=teams,
            quarter_months=quarter_months,
            team_spend_by_month=team_spend_by_month,
        )
    )
    if include_appendix:
        step(88, "Appendix: every budget")
        tables.append(
            _appendix(
                budgets=budgets,
                allocated_by_budget=allocated_by_budget,
                year_by_budget=year_by_budget,
                labels=_budget_labels(budgets, employees, teams, projects),
            )
        )

    return {
        "version": SNAPSHOT_VERSION,
        "company": settings_row.name,
        "fiscal_year": fiscal_year,
        "quarter": quarter,
        "quarter_start": q_start.isoformat(),
        "quarter_end": (q_end - timedelta(days=1)).isoformat(),
        "year_start": period.year_period.start.isoformat(),
        "cutoff": period.cutoff.isoformat(),
        "complete_quarter": period.cutoff >= q_end,
        "generated_at": as_of.isoformat(),
        "time_zone": str(timezone.get_default_timezone()),
        "has_usage": quarter_events > 0 or quarter_corrections != 0,
        "quarter_spend": quarter_spend,
        "year_spend": year_spend,
        "annual_budget": annual_budget,
        "include_appendix": include_appendix,
        "tables": tables,
    }


def _headline(
    *,
    period: ReportPeriod,
    quarter_usage: int,
    quarter_corrections: int,
    year_usage: int,
    year_corrections: int,
    last_year_spend: int | None,
    annual_budget: int,
    engineers: int,
    quarter_tokens: int,
    quarter_events: int,
) -> dict:
    quarter_spend = quarter_usage + quarter_corrections
    year_spend = year_usage + year_corrections
    year_days = period.year_period.days
    # The budget to date: the annual budget spread evenly over the days of the year.
    quarter_budget = divide_micros(annual_budget * period.quarter_days_elapsed, year_days)
    year_budget = divide_micros(annual_budget * period.year_days_elapsed, year_days)
    change = (
        None
        if not last_year_spend
        else str(calc.percent(quarter_spend - last_year_spend, last_year_spend))
    )
    rows = [
        ["Usage", quarter_usage, year_usage],
        ["Price corrections", quarter_corrections, year_corrections],
        ["Token spend", quarter_spend, year_spend],
        ["Budget for the period (annual budget pro rata)", quarter_budget, year_budget],
        ["Under (over) budget", quarter_budget - quarter_spend, year_budget - year_spend],
        ["Spend as share of budget", _pct(quarter_spend, quarter_budget), None],
        ["Annual budget", None, annual_budget],
        ["Same quarter last year", last_year_spend, None],
        ["Change against last year", change, None],
        ["Engineers with a budget", engineers, engineers],
        [
            "Spend per engineer",
            divide_micros(quarter_spend, engineers) if engineers else None,
            divide_micros(year_spend, engineers) if engineers else None,
        ],
        ["Usage events", quarter_events, None],
        ["Tokens bought", quarter_tokens, None],
        [
            "Average price per million tokens",
            calc.average_price_per_million(spent_micros=quarter_usage, tokens=quarter_tokens),
            None,
        ],
    ]
    rows[5][2] = _pct(year_spend, year_budget)
    return _table(
        "headline",
        "Headline: token spend against budget",
        "headline",
        [("Line item", "text"), ("Quarter", "row"), ("Year to date", "row")],
        rows,
        row_kinds=[
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
        ],
        note="Token spend = usage events (dated when they occurred) + price corrections "
        "posted in the period. The annual budget is every allocation, increase, transfer, "
        "carryover and adjustment on the year's budgets as of generation; the budget for the "
        "period is that pro rata by days elapsed.",
    )


def _budget_labels(budgets, employees, teams, projects) -> dict[int, tuple[str, str]]:
    labels = {}
    for budget_id, row in budgets.items():
        if row["employee_id"] is not None:
            person = employees[row["employee_id"]]
            name = f"{person['user__first_name']} {person['user__last_name']}".strip()
            labels[budget_id] = ("Personal", f"{name or person['user__email']}")
        elif row["team_id"] is not None:
            labels[budget_id] = ("Team pool", teams[row["team_id"]]["name"])
        else:
            project = projects[row["project_id"]]
            labels[budget_id] = ("Project", f"{project['name']} ({project['code']})")
    return labels


def _utilisation(*, budgets, allocated_by_budget, year_by_budget) -> list[dict]:
    counts, allocated, spent = (defaultdict(int) for _ in range(3))
    for budget_id in budgets:
        bucket = calc.utilisation_bucket(
            spent_micros=year_by_budget.get(budget_id, 0),
            allocated_micros=allocated_by_budget[budget_id],
        )
        counts[bucket] += 1
        allocated[bucket] += allocated_by_budget[budget_id]
        spent[bucket] += year_by_budget.get(budget_id, 0)
    rows = [
        [label, counts[key], _pct(counts[key], len(budgets)), allocated[key], spent[key]]
        for key, label in calc.UTILISATION_BUCKETS
    ]
    return [
        _table(
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
                _pct(len(budgets), len(budgets)),
                sum(allocated.values()),
                sum(spent.values()),
            ],
            note="Every budget of the fiscal year (personal, team pools, projects) by the "
            "share of its allocation spent to date.",
        )
    ]


def _baseline(*, period, levels, employees, personal, year_by_employee) -> dict:
    """What each level really uses: median and p90 of annualised spend per engineer."""
    by_level: dict[int, list[int]] = defaultdict(list)
    for employee_id in personal:
        annual = calc.annualise(
            spent_micros=year_by_employee.get(employee_id, 0),
            elapsed_days=period.year_days_elapsed,
            year_days=period.year_period.days,
        )
        by_level[employees[employee_id]["level_id"]].append(annual)
    rows = []
    for level in sorted(levels.values(), key=lambda lv: lv.rank):
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
                _pct(median, level.default_annual_budget_micros),
                low if values else None,
                high if values else None,
            ]
        )
    return _table(
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


def _forecast(
    *,
    period,
    budgets,
    allocated_by_budget,
    year_by_budget,
    quarter_by_budget,
    annual_budget,
    quarter_spend,
    year_spend,
    labels,
) -> list[dict]:
    days = period.quarter_days_elapsed
    rate = calc.burn_rate(spent_micros=quarter_spend, days=days)
    left = period.year_days_left
    projected = year_spend + rate * left
    summary = _table(
        "forecast",
        "Forecast to year end at the quarter's burn rate",
        "forecast",
        [("", "text"), ("Amount", "row")],
        [
            ["Burn rate per day (this quarter)", rate],
            ["Days left in the fiscal year", left],
            ["Spent to date", year_spend],
            ["Projected spend for the rest of the year", rate * left],
            ["Projected spend for the year", projected],
            ["Annual budget", annual_budget],
            ["Projected under (over) budget", annual_budget - projected],
        ],
        row_kinds=["money", "count", "money", "money", "money", "money", "money"],
    )
    runs_out = []
    for budget_id in budgets:
        allocated = allocated_by_budget[budget_id]
        spent = year_by_budget.get(budget_id, 0)
        budget_rate = calc.burn_rate(spent_micros=quarter_by_budget.get(budget_id, 0), days=days)
        if budget_rate <= 0 or spent + budget_rate * left <= allocated:
            continue
        remaining = allocated - spent
        day = (
            period.cutoff
            if remaining <= 0
            else period.cutoff + timedelta(days=-(-remaining // budget_rate))
        )
        kind, owner = labels[budget_id]
        runs_out.append(
            [
                owner,
                kind,
                allocated,
                spent,
                spent + budget_rate * left,
                day.isoformat(),
            ]
        )
    runs_out.sort(key=lambda row: (row[5], -(row[4] - row[2]), row[0]))
    shown = runs_out[:FORECAST_TABLE_LIMIT]
    note = (
        f"{len(runs_out)} budgets are projected to run out before the year ends"
        + (f"; the {len(shown)} earliest are listed." if len(runs_out) > len(shown) else ".")
        if runs_out
        else "No budget is projected to run out before the year ends."
    )
    exhaust = _table(
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
    return [summary, exhaust]


def _carryover(*, ledger, year_by_budget) -> dict:
    carried = expired = spent_from = unspent = budgets_with = 0
    for budget_id, entry in ledger.items():
        carried_in = entry.get(EntryKind.CARRYOVER_IN, 0)
        if not carried_in:
            continue
        budgets_with += 1
        expired_here = -entry.get(EntryKind.EXPIRY, 0)
        left = calc.carryover_unspent(
            carried_in_micros=carried_in,
            expired_micros=expired_here,
            spent_micros=year_by_budget.get(budget_id, 0),
        )
        carried += carried_in
        expired += expired_here
        unspent += left
        spent_from += carried_in - expired_here - left
    return _table(
        "carryover",
        "Carryover liability",
        "carryover",
        [("", "text"), ("Amount", "row")],
        [
            ["Budgets holding carried-over money", budgets_with],
            ["Carried in from last year", carried],
            ["Expired", -expired],
            ["Spent from carried-over money", -spent_from],
            ["Liability: carried over and still unspent", unspent],
        ],
        row_kinds=["count", "money", "money", "money", "money"],
        note="Carried-over money is drawn first (it is the money that expires). The liability "
        "is what engineers may still spend of it.",
    )


def _forfeitures(*, posted_quarter, posted_year) -> dict:
    rows = []
    total = [0, 0, 0, 0]
    for kind in (EntryKind.FORFEITURE, EntryKind.EXPIRY, EntryKind.CARRYOVER_OUT):
        q_count, q_amount = posted_quarter.get(kind, (0, 0))
        y_count, y_amount = posted_year.get(kind, (0, 0))
        # Entries take money out (negative); the table shows what left the budgets.
        rows.append([EntryKind(kind).label, q_count, -q_amount, y_count, -y_amount])
        total = [total[0] + q_count, total[1] - q_amount, total[2] + y_count, total[3] - y_amount]
    return _table(
        "forfeitures",
        "Forfeitures, expiries and carryover out",
        "carryover",
        [
            ("", "text"),
            ("Entries (quarter)", "count"),
            ("Amount (quarter)", "money"),
            ("Entries (year to date)", "count"),
            ("Amount (year to date)", "money"),
        ],
        rows,
        total=["Total", *total],
        note="Ledger entries posted in the period, on any fiscal year's budgets.",
    )


def _price_trend(*, period, by_month, usd_per_token: Decimal) -> dict:
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
            more = str(calc.percent(first_price - price, price))
        rows.append([month.strftime("%b %Y"), spend, tokens, price, more])
    return _table(
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


def _approvals(period: ReportPeriod) -> list[dict]:
    approved = list(
        ApprovalRequest.objects.filter(
            state=RequestState.APPROVED,
            decided_at__gte=moment(period.quarter_period.start),
            decided_at__lt=moment(period.cutoff),
        )
        .exclude(kind=RequestKind.OFFER)
        .values("id", "kind", "amount_micros")
        .order_by()
    )
    final_role: dict[int, str] = {}
    for step in (
        ApprovalStep.objects.filter(
            request_id__in=[r["id"] for r in approved], state=StepState.APPROVED
        )
        .values("request_id", "index", "role")
        .order_by("request_id", "index")
    ):
        final_role[step["request_id"]] = step["role"]
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_role: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    from approvals.models import StepRole

    for request in approved:
        by_kind[request["kind"]][0] += 1
        by_kind[request["kind"]][1] += request["amount_micros"]
        role = final_role.get(request["id"], "")
        by_role[role][0] += 1
        by_role[role][1] += request["amount_micros"]
    count, total = len(approved), sum(r["amount_micros"] for r in approved)
    kinds = [k for k in RequestKind.values if k != RequestKind.OFFER]
    roles = dict(StepRole.choices)
    columns = [("", "text"), ("Approved", "count"), ("Amount", "money")]
    return [
        _table(
            "approvals_by_kind",
            "Approvals this quarter by kind",
            "approvals",
            columns,
            [[RequestKind(k).label, *by_kind[k]] for k in kinds],
            total=["Total", count, total],
            note="Requests finally approved in the quarter (the money moved then)."
            if count
            else "No increase, project allocation or team top-up was approved this quarter.",
        ),
        _table(
            "approvals_by_level",
            "Approvals this quarter by approver level",
            "approvals",
            columns,
            [
                [roles.get(role, "Unknown"), *values]
                for role, values in sorted(
                    by_role.items(), key=lambda i: list(roles).index(i[0]) if i[0] in roles else 99
                )
            ],
            total=["Total", count, total],
            note="By the level of the step that gave the final approval.",
        ),
    ]


def _pilot_teams(employees) -> set[int]:
    """Teams where at least half the members are in the pilot cohort."""
    members, pilots = defaultdict(int), defaultdict(int)
    for row in employees.values():
        if row["team_id"] is not None:
            members[row["team_id"]] += 1
            pilots[row["team_id"]] += bool(row["pilot_cohort"])
    return {team for team, size in members.items() if 2 * pilots[team] >= size}


def _pilot(
    *,
    employees,
    personal,
    quarter_by_employee,
    quarter_corrections,
    metrics,
    quarter_months,
    team_spend_by_month,
    pilot_teams,
) -> list[dict]:
    spend, heads = defaultdict(int), defaultdict(int)
    for employee_id, row in employees.items():
        cohort = "Pilot cohort" if row["pilot_cohort"] else "Everyone else"
        spend[cohort] += quarter_by_employee.get(employee_id, 0)
        if employee_id in personal:
            heads[cohort] += 1
    cohorts = ["Pilot cohort", "Everyone else"]
    total_spend = sum(spend.values()) + quarter_corrections
    rows = [
        [
            cohort,
            heads[cohort],
            spend[cohort],
            _pct(spend[cohort], total_spend),
            divide_micros(spend[cohort], heads[cohort]) if heads[cohort] else None,
        ]
        for cohort in cohorts
    ]
    if quarter_corrections:
        rows.append(
            [
                CORRECTIONS_LABEL,
                0,
                quarter_corrections,
                _pct(quarter_corrections, total_spend),
                None,
            ]
        )
    heads_total = sum(heads.values())
    cohort_table = _table(
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
            _pct(total_spend, total_spend),
            divide_micros(total_spend, heads_total) if heads_total else None,
        ],
    )
    units: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    unit_spend: dict[tuple[str, str], int] = defaultdict(int)
    for row in metrics:
        if row["month"] not in quarter_months:
            continue
        cohort = "Pilot teams" if row["team_id"] in pilot_teams else "Other teams"
        units[(row["metric"], cohort)] += row["value"]
        unit_spend[(row["metric"], cohort)] += team_spend_by_month.get(
            (row["team_id"], row["month"]), 0
        )
    metric_rows = [
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
    metric_table = _table(
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
        metric_rows,
        note="A team counts as a pilot team when at least half its members are in the pilot "
        "cohort. Only the months a team recorded the metric count."
        if metric_rows
        else "No team recorded a productivity metric this quarter.",
    )
    return [cohort_table, metric_table]


def _productivity(*, period, metrics, teams, quarter_months, team_spend_by_month) -> list[dict]:
    units: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    spend: dict[tuple[str, int], int] = defaultdict(int)
    trend_units: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    trend_spend: dict[tuple[str, date], int] = defaultdict(int)
    for row in metrics:
        team_spend = team_spend_by_month.get((row["team_id"], row["month"]), 0)
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
            calc.spend_per_unit(
                spent_micros=spend[(metric, team_id)], units=units[(metric, team_id)]
            ),
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
            calc.spend_per_unit(
                spent_micros=trend_spend[(metric, month)], units=trend_units[(metric, month)]
            ),
        ]
        for metric, month in sorted(trend_units)
    ]
    return [
        _table(
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
        _table(
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


def _appendix(*, budgets, allocated_by_budget, year_by_budget, labels) -> dict:
    rows = []
    for budget_id in budgets:
        kind, owner = labels[budget_id]
        allocated = allocated_by_budget[budget_id]
        spent = year_by_budget.get(budget_id, 0)
        rows.append([owner, kind, allocated, spent, allocated - spent, _pct(spent, allocated)])
    rows.sort(key=lambda row: (row[1], row[0].lower()))
    allocated_total = sum(r[2] for r in rows)
    spent_total = sum(r[3] for r in rows)
    return _table(
        "appendix",
        "Appendix: every budget",
        "appendix",
        [
            ("Budget", "text"),
            ("Kind", "text"),
            ("Allocated", "money"),
            ("Spent to date", "money"),
            ("Remaining", "money"),
            ("Used", "percent"),
        ],
        rows,
        total=[
            "Total",
            "",
            allocated_total,
            spent_total,
            allocated_total - spent_total,
            _pct(spent_total, allocated_total),
        ],
    )
