"""Claude Code productivity: Anthropic's Claude Code usage report, per user (by email) and UTC
day, stored per engineer and summed per team and month as the quarterly report's productivity
metrics, so its "spend per unit" needs nothing typed in.

The report's shape (addresses in tests/connectors/test_claude_code.py), `GET
/v1/organizations/usage_report/claude_code`: query starting_at (a UTC date, YYYY-MM-DD: one day
per request), limit (at most 1,000), page; {data: [{date, actor: {type: "user_actor",
email_address} or {type: "api_actor", api_key_name}, organization_id, customer_type,
terminal_type, core_metrics: {num_sessions, lines_of_code: {added, removed},
commits_by_claude_code, pull_requests_by_claude_code}, tool_actions: {edit_tool:
{accepted, rejected}, multi_edit_tool, write_tool, notebook_edit_tool}, model_breakdown:
[{model, tokens: {...}, estimated_cost: {currency, amount}}]}], has_more, next_page}.

Its estimated costs are kept for reading, never posted: the same calls are in the messages
usage report, which charges them. The unit of estimated_cost.amount is taken to be cents, as
for the cost report; the excerpt of the reference available here does not say."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from common.money import dollars_to_micros
from connectors.buckets import PageOutcome
from connectors.client import ProviderError
from connectors.identity import mappings_load
from connectors.models import ClaudeCodeDay, Provider, ProviderConnection, Report
from connectors.reports import ReportSpec, anthropic_headers, moment_of

TOOLS = ("edit_tool", "multi_edit_tool", "write_tool", "notebook_edit_tool")
# the quarterly report's metric names, and the column each one sums
METRICS = {
    "claude_code_commits": "commits",
    "claude_code_pull_requests": "pull_requests",
    "claude_code_lines_added": "lines_added",
    "claude_code_edits_accepted": "edits_accepted",
}
NUMBERS = ("sessions", "lines_added", "lines_removed", "commits", "pull_requests")
NUMBERS += ("edits_accepted", "edits_rejected", "estimated_cost_micros")


def _count(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProviderError(f"The Claude Code report's count is not a count: {value!r}.")
    return value


def _cost(breakdown: list[dict]) -> int:
    try:
        cents = sum(
            Decimal(str((m.get("estimated_cost") or {}).get("amount") or 0)) for m in breakdown
        )
        return dollars_to_micros(cents / 100, exact=False)
    except (InvalidOperation, ValueError, AttributeError) as error:
        raise ProviderError("The Claude Code report's estimated cost is not an amount.") from error


def user_days(body: dict[str, Any]) -> dict[tuple[date, str], dict[str, int]]:
    """The page's numbers per (UTC day, user email); API-key actors are left out (no person)."""
    days: dict[tuple[date, str], dict[str, int]] = {}
    for record in body.get("data") or []:
        actor = record.get("actor") or {}
        email = (actor.get("email_address") or "").strip()
        if actor.get("type") != "user_actor" or not email:
            continue
        core = record.get("core_metrics") or {}
        lines = core.get("lines_of_code") or {}
        tools = record.get("tool_actions") or {}
        numbers = {
            "sessions": _count(core.get("num_sessions")),
            "lines_added": _count(lines.get("added")),
            "lines_removed": _count(lines.get("removed")),
            "commits": _count(core.get("commits_by_claude_code")),
            "pull_requests": _count(core.get("pull_requests_by_claude_code")),
            "edits_accepted": sum(_count((tools.get(t) or {}).get("accepted")) for t in TOOLS),
            "edits_rejected": sum(_count((tools.get(t) or {}).get("rejected")) for t in TOOLS),
            "estimated_cost_micros": _cost(record.get("model_breakdown") or []),
        }
        key = (moment_of(record.get("date")).date(), email.lower())
        if key in days:  # one user on several terminals: one row per day
            numbers = {name: days[key][name] + value for name, value in numbers.items()}
        days[key] = numbers
    return days


def claude_code_apply(connection: ProviderConnection, body: dict[str, Any]) -> PageOutcome:
    """Store a page: each user's day (a restated day takes its new numbers), with the employee
    the email maps to (automatically when it is an employee's email)."""
    days = user_days(body)
    outcome = PageOutcome(buckets=len(days))
    mappings = mappings_load(connection.provider, [{"email": email} for _, email in days])
    have = {
        (row.day, row.email): row
        for row in ClaudeCodeDay.objects.filter(
            connection=connection,
            day__in={d for d, _ in days},
            email__in={e for _, e in days},
        )
    }
    for (day, email), numbers in days.items():
        mapping = mappings.get(("email", email))
        employee = mapping.employee if mapping else None
        row = have.get((day, email))
        if row is None:
            ClaudeCodeDay.objects.create(
                connection=connection, day=day, email=email, employee=employee, **numbers
            )
            outcome.new += 1
            outcome.held += employee is None
            continue
        if all(getattr(row, n) == v for n, v in numbers.items()) and row.employee == employee:
            outcome.unchanged += 1
            continue
        for name, value in numbers.items():
            setattr(row, name, value)
        row.employee, row.fetched_at = employee, timezone.now()
        row.save()
        outcome.restated += 1
    return outcome


def claude_code_params(day: date) -> list[tuple[str, str]]:
    return [("starting_at", day.isoformat()), ("limit", "1000")]


CLAUDE_CODE_REPORT = ReportSpec(
    provider=Provider.ANTHROPIC,
    report=Report.ANTHROPIC_CLAUDE_CODE,
    path="/v1/organizations/usage_report/claude_code",
    identity_order=("email",),
    params=lambda since: claude_code_params(since.astimezone(UTC).date()),
    rows=lambda body: [],
    headers=anthropic_headers,
)


def productivity_by_team_month(start: date, end: date) -> list[dict]:
    """The Claude Code metrics per team and month (days from `start` to before `end`), in the
    shape of recorded productivity metrics: {team_id, month, metric, value}. By the
    engineer's current team; days of unmapped emails are left out until they are mapped."""
    rows = (
        ClaudeCodeDay.objects.filter(
            day__gte=start, day__lt=end, employee__isnull=False, employee__team__isnull=False
        )
        .annotate(month=TruncMonth("day"))
        .values("employee__team_id", "month")
        .annotate(**{metric: Sum(column) for metric, column in METRICS.items()})
        .order_by()
    )
    out: dict[tuple[int, date, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        month = row["month"]
        if isinstance(month, datetime):
            month = month.date()
        for metric in METRICS:
            if row[metric]:
                out[(row["employee__team_id"], month, metric)] += Decimal(row[metric])
    return [
        {"team_id": team_id, "month": month, "metric": metric, "value": value}
        for (team_id, month, metric), value in sorted(out.items())
    ]


def metric_sum(*, metric: str, employee_ids: Iterable[int], start: date, end: date) -> Decimal:
    """One Claude Code metric (a key of METRICS) summed over some engineers' days from `start`
    to before `end`: what a pilot's comparison divides spend by."""
    total = ClaudeCodeDay.objects.filter(
        employee_id__in=list(employee_ids), day__gte=start, day__lt=end
    ).aggregate(total=Sum(METRICS[metric], default=0))["total"]
    return Decimal(total)
