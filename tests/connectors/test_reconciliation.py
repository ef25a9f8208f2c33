"""Reconciliation: the providers' cost reports against what Allot recorded from their usage,
per provider and UTC day, on finance's page, with an alert over the threshold.

The cost reports' shapes, field by field:
- Anthropic, Get Cost Report (`GET /v1/organizations/cost_report`):
  https://platform.claude.com/docs/en/api/admin/cost_report.md and
  https://platform.claude.com/docs/en/api/admin-api/usage-cost/get-cost-report.md (amount a
  decimal string in the lowest currency unit, cents, as also quoted at
  https://docs.rs/ai-usagebar/0.17.1/src/ai_usagebar/anthropic_api/types.rs.html; the excerpt
  of the reference itself available here stops before the field's description).
- OpenAI, Costs (`GET /v1/organization/costs`): the example response mirrored at
  https://share.apidog.com/apidoc/docs-site/370474/api-12405880 and the CostsResult schema of
  OpenAI's OpenAPI document as carried at
  https://docs.rs/openai-struct/latest/openai_struct/models/struct.CostsResult.html (amount
  {value: number, currency: lower-case ISO 4217}).
"""

import pytest

from budgets.models import Budget, EntryKind, UsageEvent
from budgets.usage import usage_ingest
from connectors.costs import reconciliation
from connectors.models import BucketPosting, Provider, ProviderCostDay, UsageBucket
from connectors.services import identity_map
from connectors.sync import usage_sync
from notifications.models import Notification
from reporting.rendering import report_csv
from reporting.selectors import report_data
from tests.connectors.provider_server import (
    anthropic_bucket,
    anthropic_cost_bucket,
    anthropic_result,
    day,
    openai_bucket,
    openai_cost_bucket,
    openai_result,
)
from tests.factories import EmployeeFactory, finance_user, hr_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(anthropic):
    employee = EmployeeFactory()
    identity_map(
        provider=Provider.ANTHROPIC, kind="api_key_id", external_id="apikey_a", employee=employee
    )
    return employee


def test_a_2_percent_gap_shows_on_finances_page_and_alerts_finance_once(
    provider_server, anthropic, alice, client
):
    finance, hr = finance_user(), hr_user()
    provider_server.anthropic = [
        # $14.70: 980,000 output tokens at $15 a million
        anthropic_bucket(1, [anthropic_result("apikey_a", uncached=0, output=980_000)]),
        # $3.00
        anthropic_bucket(2, [anthropic_result("apikey_a", uncached=1_000_000, output=0)]),
    ]
    provider_server.anthropic_costs = [
        anthropic_cost_bucket(1, ["1000.00", "500"]),  # cents: $15.00
        anthropic_cost_bucket(2, ["301"]),  # $3.01: a third of a percent, under the limit
    ]

    usage_sync(Provider.ANTHROPIC)

    first, second = sorted(reconciliation(), key=lambda r: r.day_row.day)
    assert (first.provider_micros, first.recorded_micros) == (15_000_000, 14_700_000)
    assert first.difference_micros == -300_000 and str(first.difference_percent) == "-2.00"
    assert first.over_threshold
    assert str(second.difference_percent) == "-0.33" and not second.over_threshold
    [note] = Notification.objects.filter(user=finance)
    assert "2026-11-01" in note.message and "-2.00 %" in note.message
    assert "$14.70" in note.message and "$15.00" in note.message
    assert note.kind == "reconciliation"
    assert note.subject.startswith("Allot: ") and "2026-11-01" in note.subject
    assert note.link == f"/admin/connectors/providercostday/{first.day_row.pk}/change/"
    assert not Notification.objects.filter(user=hr).exists()
    client.force_login(finance)
    page = client.get("/admin/connectors/providercostday/").content.decode()
    assert "-2.00 %" in page and "$15.00" in page and "$14.70" in page and "-$0.30" in page

    usage_sync(Provider.ANTHROPIC, since=day(1).date())  # read again: told once
    assert Notification.objects.filter(user=finance).count() == 1


def test_held_usage_is_shown_beside_the_gap_it_explains(provider_server, anthropic, alice):
    provider_server.anthropic = [
        anthropic_bucket(1, [anthropic_result("apikey_unmapped", uncached=1_000_000, output=0)])
    ]
    provider_server.anthropic_costs = [anthropic_cost_bucket(1, ["300"])]

    usage_sync(Provider.ANTHROPIC)

    [day1] = reconciliation()
    assert (day1.recorded_micros, day1.held_micros, day1.provider_micros) == (
        0,
        3_000_000,
        3_000_000,
    )
    assert str(day1.difference_percent) == "-100.00" and day1.over_threshold


def test_openai_costs_are_read_from_their_json_numbers_without_float_error(provider_server, openai):
    dana = EmployeeFactory()
    identity_map(provider=Provider.OPENAI, kind="user_id", external_id="user-d", employee=dana)
    provider_server.openai = [
        openai_bucket(4, [openai_result(user_id="user-d", input_tokens=1_000_000, output_tokens=0)])
    ]
    provider_server.openai_costs = [openai_cost_bucket(4, [0.1, 0.2, 2.2])]  # 0.1 + 0.2 != 0.3

    usage_sync(Provider.OPENAI)

    row = ProviderCostDay.objects.get()
    assert row.day == day(4).date() and row.provider_cost_micros == 2_500_000
    [reconciled] = reconciliation()
    assert reconciled.difference_micros == 0 and not reconciled.over_threshold


def test_the_quarterly_report_shows_the_gap_per_provider_and_month(
    provider_server, anthropic, alice
):
    provider_server.anthropic = [
        anthropic_bucket(1, [anthropic_result("apikey_a", uncached=0, output=980_000)])
    ]
    provider_server.anthropic_costs = [anthropic_cost_bucket(1, ["1500"])]
    usage_sync(Provider.ANTHROPIC)

    snapshot = report_data(fiscal_year=2026, quarter=4)

    table = next(t for t in snapshot["tables"] if t["key"] == "reconciliation")
    assert table["rows"] == [
        ["Anthropic (Admin API)", "Nov 2026", 15_000_000, 14_700_000, 0, 0, 14_700_000, 0]
        + [-300_000, "-2.00", 1]
    ]
    assert table["total"][9] == "-2.00"
    assert "Reconciliation with the providers' cost reports" in report_csv(snapshot)


def gateway_event(employee, event_id: str, model: str, when: str, **tokens) -> dict:
    """A usage event as the gateway callback or POST /api/v1/usage/ sends it."""
    return {
        "id": event_id,
        "employee": employee.user.email,
        "model": model,
        "occurred_at": when,
        **tokens,
    }


def test_usage_through_the_gateway_counts_for_its_provider_and_day(
    provider_server, anthropic, alice, client
):
    """The provider bills what the gateway sent through it too: the reconciliation counts the
    day's API/gateway events of the provider's models beside the connector's buckets (and not
    the connector's own events twice, nor another provider's model, nor another day)."""
    provider_server.anthropic = [
        # $14.70 through the connector
        anthropic_bucket(1, [anthropic_result("apikey_a", uncached=0, output=980_000)])
    ]
    provider_server.anthropic_costs = [anthropic_cost_bucket(1, ["1500"])]  # $15.00
    result = usage_ingest(
        events=[
            # $0.30 of Claude through the gateway on 1 Nov (UTC): counts
            gateway_event(
                alice,
                "g1",
                "claude-sonnet-4-20250514",
                "2026-11-01T23:30:00Z",
                input_tokens=100_000,
                output_tokens=0,
            ),
            # OpenAI's model the same day: not Anthropic's
            gateway_event(
                alice,
                "g2",
                "gpt-4o-2024-08-06",
                "2026-11-01T10:00:00Z",
                input_tokens=100_000,
                output_tokens=0,
            ),
            # Claude on 2 Nov (UTC): another day
            gateway_event(
                alice,
                "g3",
                "claude-sonnet-4-20250514",
                "2026-11-02T00:30:00Z",
                input_tokens=100_000,
                output_tokens=0,
            ),
        ],
        source="gateway",
    )
    assert result.accepted == 3

    usage_sync(Provider.ANTHROPIC)

    [day1] = reconciliation()
    assert (day1.connector_micros, day1.gateway_micros) == (14_700_000, 300_000)
    assert day1.recorded_micros == day1.provider_micros == 15_000_000
    assert day1.difference_micros == 0 and not day1.over_threshold
    assert not Notification.objects.exists()  # no gap once the gateway's share is counted
    client.force_login(finance_user())
    page = client.get("/admin/connectors/providercostday/").content.decode()
    assert "From the gateway/API" in page and "From connectors" in page
    assert "$0.30" in page and "$14.70" in page and "+0.00 %" in page
    snapshot = report_data(fiscal_year=2026, quarter=4)
    table = next(t for t in snapshot["tables"] if t["key"] == "reconciliation")
    assert table["rows"][0][2:8] == [15_000_000, 14_700_000, 0, 300_000, 15_000_000, 0]


def test_anthropics_cost_amount_is_cents_as_documented(provider_server, anthropic):
    """The Get Cost Report reference: `amount` is a decimal string in the currency's lowest
    unit, cents, so "123.45" USD is $1.2345 (fractional cents kept to the micro-dollar). Pinned
    here: reading it as dollars would make every day's gap a hundredfold."""
    provider_server.anthropic_costs = [
        anthropic_cost_bucket(1, ["123.45"]),  # the reference's own example: $1.2345
        anthropic_cost_bucket(2, ["0.0001", "99"]),  # a hundredth of a cent, and 99 cents
    ]

    usage_sync(Provider.ANTHROPIC)

    costs = dict(ProviderCostDay.objects.values_list("day", "provider_cost_micros"))
    assert costs == {day(1).date(): 1_234_500, day(2).date(): 990_001}


def _postings_of(provider: str) -> list[BucketPosting]:
    return list(BucketPosting.objects.filter(bucket__connection__provider=provider))


def test_an_anthropic_bucket_restated_posts_only_its_difference_and_still_reconciles_to_the_cent(
    provider_server, anthropic, alice, client
):
    # given a day synced and reconciled: 1M input at $3 and 100,000 output at $15, $4.50
    provider_server.anthropic = [
        anthropic_bucket(1, [anthropic_result("apikey_a", uncached=1_000_000, output=100_000)])
    ]
    provider_server.anthropic_costs = [anthropic_cost_bucket(1, ["450"])]
    usage_sync(Provider.ANTHROPIC)
    [before] = reconciliation()
    assert before.difference_micros == 0 and before.restated_micros == 0

    # when the provider restates the bucket (late data: 50,000 more output, $0.75) and its
    # cost report with it, and the day is read again
    provider_server.anthropic = [
        anthropic_bucket(1, [anthropic_result("apikey_a", uncached=1_000_000, output=150_000)])
    ]
    provider_server.anthropic_costs = [anthropic_cost_bucket(1, ["525"])]
    usage_sync(Provider.ANTHROPIC, since=day(1).date())

    # then only the $0.75 is posted, as version 2 of the bucket, and the day still matches
    [posting] = _postings_of(Provider.ANTHROPIC)
    bucket = UsageBucket.objects.get()
    assert (posting.bucket_id, posting.version, posting.amount_micros) == (bucket.pk, 2, 750_000)
    assert posting.usage_event.cost_micros == 750_000 and posting.output_tokens == 50_000
    assert bucket.usage_event.cost_micros == 4_500_000 and bucket.charged_micros == 5_250_000
    assert UsageEvent.objects.filter(employee=alice).count() == 2  # the first and its v2
    [after] = reconciliation()
    assert (after.provider_micros, after.connector_micros) == (5_250_000, 5_250_000)
    assert after.restated_micros == 750_000
    assert after.difference_micros == 0 and str(after.difference_percent) == "0.00"
    assert not after.over_threshold and not Notification.objects.exists()
    client.force_login(finance_user())
    page = client.get("/admin/connectors/providercostday/").content.decode()
    assert "Of which restatements" in page and "$0.75" in page and "$5.25" in page
    assert "+0.00 %" in page
    snapshot = report_data(fiscal_year=2026, quarter=4)
    table = next(t for t in snapshot["tables"] if t["key"] == "reconciliation")
    # provider's cost, from connectors, of which restatements, gateway, recorded, held, gap
    assert table["rows"][0][2:9] == [5_250_000, 5_250_000, 750_000, 0, 5_250_000, 0, 0]
    assert "Of which restatements" in report_csv(snapshot)


def test_an_openai_bucket_restated_downwards_posts_a_correction_and_still_reconciles_to_the_cent(
    provider_server, openai, client
):
    # given: 2M input at $2.50 a million, $5.00, on the costs report too
    dana = EmployeeFactory()
    identity_map(provider=Provider.OPENAI, kind="user_id", external_id="user-d", employee=dana)
    provider_server.openai = [
        openai_bucket(4, [openai_result(user_id="user-d", input_tokens=2_000_000, output_tokens=0)])
    ]
    provider_server.openai_costs = [openai_cost_bucket(4, [5.0])]
    usage_sync(Provider.OPENAI)

    # when OpenAI restates the bucket down to 1.6M input ($4.00) and its cost with it
    provider_server.openai = [
        openai_bucket(4, [openai_result(user_id="user-d", input_tokens=1_600_000, output_tokens=0)])
    ]
    provider_server.openai_costs = [openai_cost_bucket(4, [4.0])]
    usage_sync(Provider.OPENAI, since=day(4).date())

    # then a $1.00 usage correction, linked to the bucket, on the budget that paid
    [posting] = _postings_of(Provider.OPENAI)
    bucket = UsageBucket.objects.get()
    assert posting.bucket_id == bucket.pk and posting.amount_micros == -1_000_000
    entry = posting.ledger_entry
    assert entry.kind == EntryKind.USAGE_CORRECTION and entry.amount_micros == -1_000_000
    assert entry.budget_id == bucket.usage_event.budget_id and posting.usage_event is None
    assert Budget.objects.get(pk=entry.budget_id).spent_micros == 4_000_000
    [reconciled] = reconciliation()
    assert (reconciled.provider_micros, reconciled.connector_micros) == (4_000_000, 4_000_000)
    assert reconciled.restated_micros == -1_000_000 and reconciled.difference_micros == 0
    client.force_login(finance_user())
    page = client.get("/admin/connectors/providercostday/").content.decode()
    assert "-$1.00" in page and "$4.00" in page and "+0.00 %" in page
    snapshot = report_data(fiscal_year=2026, quarter=4)
    table = next(t for t in snapshot["tables"] if t["key"] == "reconciliation")
    assert table["rows"][0][2:5] == [4_000_000, 4_000_000, -1_000_000]
    assert table["total"][8] == 0  # the gap
