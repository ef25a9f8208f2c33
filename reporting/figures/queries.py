"""Every database read of the quarterly report: a fixed handful of grouped SQL queries, none of
which loops over events in Python. The figure modules only compute on what these return."""

from collections import defaultdict
from datetime import date, datetime, timedelta

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from approvals.models import ApprovalRequest, ApprovalStep, RequestKind, RequestState, StepState
from budgets.models import Budget, EntryKind, LedgerEntry, UsageEvent
from common.money import Micros
from connectors.claude_code import productivity_by_team_month
from people.models import Employee, Level, Project, Team
from pilots.comparison import PilotComparison, pilot_compare
from pilots.models import PilotCohort
from reporting.figures.period import ReportPeriod, moment
from reporting.models import ProductivityMetric

# The close of the fiscal year: what it carries out and forfeits is not part of the year's
# budget (it is what was left of it), nor are holds forfeited after it.
CLOSE_KINDS = (EntryKind.CARRYOVER_OUT, EntryKind.FORFEITURE)
TOKENS = (
    F("input_tokens")
    + F("output_tokens")
    + F("cached_input_tokens")
    + F("cache_write_tokens")
    + F("cache_write_1h_tokens")
)


def employees_by_id() -> dict[int, dict]:
    return {
        row["id"]: row
        for row in Employee.objects.values(
            "id",
            "level_id",
            "team_id",
            "user__email",
            "user__first_name",
            "user__last_name",
            department_id=F("team__department_id"),
        ).order_by()
    }


def levels_by_id() -> dict[int, Level]:
    return {row.pk: row for row in Level.objects.all()}


def teams_by_id() -> dict[int, dict]:
    return {
        row["id"]: row for row in Team.objects.values("id", "name", "department__name").order_by()
    }


def projects_by_id() -> dict[int, dict]:
    return {row["id"]: row for row in Project.objects.values("id", "code", "name").order_by()}


def budgets_by_id(fiscal_year: int) -> dict[int, dict]:
    return {
        row["id"]: row
        for row in Budget.objects.filter(fiscal_year=fiscal_year)
        .values("id", "employee_id", "team_id", "project_id")
        .order_by()
    }


def usage_by_employee_budget_project(period: ReportPeriod) -> list[dict]:
    """One scan of the year's events to the cutoff, grouped small: per (employee, budget,
    project), the quarter's and the year's spend, tokens and events."""
    in_quarter = Q(occurred_at__gte=moment(period.quarter_period.start))
    return list(
        UsageEvent.objects.filter(
            occurred_at__gte=moment(period.year_period.start),
            occurred_at__lt=moment(period.cutoff),
        )
        .values("employee_id", "budget_id", "project_id")
        .annotate(
            quarter_spend=Sum("cost_micros", filter=in_quarter, default=0),
            year_spend=Sum("cost_micros", default=0),
            quarter_tokens=Sum(TOKENS, filter=in_quarter, default=0),
            quarter_events=Count("id", filter=in_quarter),
        )
        .order_by()
    )


def usage_by_month(period: ReportPeriod, *group: str) -> list[dict]:
    """The year's events to the cutoff per month (company zone) and the given columns."""
    return list(
        UsageEvent.objects.filter(
            occurred_at__gte=moment(period.year_period.start),
            occurred_at__lt=moment(period.cutoff),
        )
        .annotate(month=TruncMonth("occurred_at", tzinfo=timezone.get_default_timezone()))
        .values("month", *group)
        .annotate(
            spend=Sum("cost_micros", default=0),
            tokens=Sum(TOKENS, default=0),
            events=Count("id"),
        )
        .order_by()
    )


def spend_between(start: date, end: date) -> Micros:
    """Usage events plus corrections posted in [start, end): the ledger's spend of a period."""
    events = UsageEvent.objects.filter(
        occurred_at__gte=moment(start), occurred_at__lt=moment(end)
    ).aggregate(total=Sum("cost_micros", default=0))["total"]
    return events + corrections_posted(start, end)


def has_events_between(start: date, end: date) -> bool:
    return UsageEvent.objects.filter(
        occurred_at__gte=moment(start), occurred_at__lt=moment(end)
    ).exists()


def corrections_posted(start: date, end: date) -> Micros:
    """Price corrections posted in [start, end), on any fiscal year's budget: a correction of
    last year's events posted this quarter is this quarter's (the quarter that held the events
    was reported before it existed)."""
    return LedgerEntry.objects.filter(
        kind=EntryKind.USAGE_CORRECTION, created_at__gte=moment(start), created_at__lt=moment(end)
    ).aggregate(total=Sum("amount_micros", default=0))["total"]


def ledger_by_budget(period: ReportPeriod, as_of: datetime) -> dict[int, dict[str, int]]:
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


def entries_posted(start: date, end: date, kinds) -> dict[str, tuple[int, int]]:
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


def approvals_of_quarter(period: ReportPeriod) -> tuple[list[dict], dict[int, str]]:
    """The requests finally approved in the quarter (offers aside), and per request the role of
    the step that gave the final approval."""
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
    return approved, final_role


def productivity_metrics(period: ReportPeriod) -> list[dict]:
    """The metrics teams recorded from the year's start to the quarter's end, and those the
    Claude Code report gives per team (connectors: commits, pull requests, lines, edits)."""
    recorded = list(
        ProductivityMetric.objects.filter(
            month__gte=period.year_period.start, month__lt=period.quarter_period.end
        )
        .values("team_id", "month", "metric", "value")
        .order_by()
    )
    return recorded + productivity_by_team_month(
        period.year_period.start, period.quarter_period.end
    )


def pilot_comparisons(period: ReportPeriod) -> list[PilotComparison]:
    """Every pilot that ran in the period, compared with its control group as of the period's
    last day covered."""
    last_day = min(period.cutoff, period.quarter_period.end) - timedelta(days=1)
    pilots = (
        PilotCohort.objects.filter(start__lt=period.quarter_period.end)
        .filter(Q(end__isnull=True) | Q(end__gte=period.quarter_period.start))
        .select_related("control_cohort", "control_department")
        .order_by("start", "name")
    )
    return [pilot_compare(cohort=cohort, today=last_day) for cohort in pilots]
