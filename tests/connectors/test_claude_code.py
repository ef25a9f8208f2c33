"""Claude Code productivity: the per-user report (by email) stored per engineer and summed per
team and month into the quarterly report's productivity figures, spend per unit included.

The report's shape, field by field: Anthropic, Get Claude Code Usage Report
(`GET /v1/organizations/usage_report/claude_code`),
https://platform.claude.com/docs/en/api/beta/organization/usage_report/retrieve_claude_code.md
(query starting_at a UTC date, limit at most 1,000, page; data[].actor user_actor
{email_address} or api_actor) and the guide
https://platform.claude.com/docs/manage-claude/claude-code-analytics-api (core_metrics:
num_sessions, lines_of_code {added, removed}, commits_by_claude_code,
pull_requests_by_claude_code; tool_actions; model_breakdown with estimated_cost). The excerpts
available here do not give estimated_cost.amount's unit: connectors.claude_code says what it
assumes.
"""

from datetime import UTC, datetime

import pytest

from connectors.models import ClaudeCodeDay, IdentityMapping, Provider
from connectors.services import identity_map
from connectors.sync import usage_sync
from reporting.selectors import report_data
from tests.connectors.conftest import connection_to
from tests.connectors.provider_server import (
    anthropic_bucket,
    anthropic_result,
    claude_code_record,
    day,
)
from tests.factories import EmployeeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def anthropic_with_claude_code(provider_server, admin_key, prices):
    return connection_to(provider_server, Provider.ANTHROPIC, claude_code=True)


def test_claude_code_days_land_per_engineer_matched_by_email_and_feed_spend_per_unit(
    provider_server, anthropic_with_claude_code
):
    erin = EmployeeFactory(user__email="Erin@example.com", user__username="erin")
    identity_map(
        provider=Provider.ANTHROPIC, kind="api_key_id", external_id="apikey_e", employee=erin
    )
    provider_server.anthropic = [
        anthropic_bucket(2, [anthropic_result("apikey_e", uncached=1_000_000, output=0)])
    ]
    provider_server.claude_code = [
        claude_code_record(2, "erin@example.com", commits=3, pull_requests=1, added=120),
        claude_code_record(3, "erin@example.com", commits=2, pull_requests=1, added=80, accepted=7),
        claude_code_record(3, "zed@example.com", commits=5, pull_requests=2, added=10),
    ]
    lines = []

    outcomes = usage_sync(Provider.ANTHROPIC, since=day(1).date(), progress=lines.append)

    assert [o.report for o in outcomes] == ["messages", "claude_code", "cost_report"]
    # a page a day, from Nov 1 to today (UTC): the count moves with the calendar
    days = (datetime.now(UTC).date() - day(1).date()).days + 1
    assert sum("claude_code page" in line for line in lines) == days
    erins = ClaudeCodeDay.objects.filter(employee=erin).order_by("day")
    assert [(d.day, d.commits, d.pull_requests, d.lines_added) for d in erins] == [
        (day(2).date(), 3, 1, 120),
        (day(3).date(), 2, 1, 80),
    ]
    assert erins[1].edits_accepted == 7 and erins[1].sessions == 3
    mapping = IdentityMapping.objects.get(kind="email", external_id="erin@example.com")
    assert mapping.matched_automatically and mapping.employee == erin
    zed_day = ClaudeCodeDay.objects.get(email="zed@example.com")
    assert zed_day.employee is None  # no such employee: waits for HR

    snapshot = report_data(fiscal_year=2026, quarter=4)

    productivity = next(t for t in snapshot["tables"] if t["key"] == "productivity")
    rows = {row[0]: row for row in productivity["rows"]}
    commits = rows["claude_code_commits"]
    assert commits[1].startswith(erin.team.name)
    assert (commits[2], commits[3], commits[4]) == ("5", 3_000_000, 600_000)  # $3 / 5 commits
    assert rows["claude_code_pull_requests"][2] == "2"
    assert rows["claude_code_lines_added"][2] == "200"


def test_hr_mapping_an_email_gives_its_claude_code_days_and_a_restated_day_is_replaced(
    provider_server, anthropic_with_claude_code
):
    provider_server.claude_code = [
        claude_code_record(3, "zed@example.com", commits=5, pull_requests=2, added=10)
    ]
    usage_sync(Provider.ANTHROPIC, since=day(3).date())
    zed = EmployeeFactory()

    identity_map(
        provider=Provider.ANTHROPIC, kind="email", external_id="Zed@example.com", employee=zed
    )

    assert ClaudeCodeDay.objects.get().employee == zed
    provider_server.claude_code = [
        claude_code_record(3, "zed@example.com", commits=6, pull_requests=2, added=10)
    ]
    outcomes = usage_sync(Provider.ANTHROPIC, since=day(3).date())
    assert outcomes[1].totals.restated == 1
    row = ClaudeCodeDay.objects.get()
    assert (row.commits, row.employee) == (6, zed)
