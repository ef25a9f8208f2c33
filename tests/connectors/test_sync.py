"""Provider connectors against a local server (127.0.0.1) serving the providers' published
response shapes, pagination included. Real database, real ingest; nothing of ours is mocked.

The shapes, field by field, come from:
- Anthropic, Get Messages Usage Report (`GET /v1/organizations/usage_report/messages`):
  https://platform.claude.com/docs/en/api/admin/usage_report/retrieve_messages
  https://platform.claude.com/docs/en/api/admin-api/usage-cost/get-messages-usage-report.md
  (query starting_at, bucket_width, group_by[], page; headers x-api-key, anthropic-version;
  results' uncached_input_tokens, cache_creation.{ephemeral_1h,ephemeral_5m}_input_tokens,
  cache_read_input_tokens, output_tokens, server_tool_use, api_key_id, workspace_id, model).
- Anthropic 429 and retry-after: https://platform.claude.com/docs/en/api/errors (as quoted by
  https://www.developersdigest.tech/errors/api/anthropic-api/429-rate-limit-error; the
  errors page itself was not in the search corpus).
- OpenAI, Completions usage (`GET /v1/organization/usage/completions`): the example response
  as mirrored at https://apidog.com/apidoc/docs-site/370474/de/api-12401171, the fields'
  meanings at https://docs.rs/crate/openai-client-base/0.16.0/source/src/models/usage_completions_result.rs
  (generated from OpenAI's OpenAPI document; input_tokens include the cached ones) and the
  cookbook https://cookbook.openai.com/examples/completions_usage_api (group_by, pagination).
  OpenAI's own reference page (platform.openai.com/docs/api-reference/usage) was not in the
  search corpus.
"""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from budgets.models import (
    SPENT_KINDS,
    Budget,
    DailySpend,
    EntryKind,
    LedgerEntry,
    TokenPrice,
    UsageEvent,
)
from budgets.pricing import NewPrice, price_correct
from connectors.buckets import event_id_of
from connectors.identity import mappings_load
from connectors.models import (
    BucketPosting,
    BucketState,
    IdentityMapping,
    Provider,
    ProviderConnection,
    SyncCursor,
    UnassignedUsage,
    UsageBucket,
)
from connectors.services import identity_map
from connectors.sync import lease_take, usage_sync
from tests.connectors.conftest import ADMIN_KEY
from tests.connectors.provider_server import (
    anthropic_bucket,
    anthropic_result,
    day,
    openai_bucket,
    openai_result,
)
from tests.factories import EmployeeFactory, ProjectFactory, hr_user

pytestmark = pytest.mark.django_db

# $3 a million input, $15 output, $0.30 cached (conftest's prices)
ALICE_DAY1 = {
    "uncached": 1_000_000,
    "output": 100_000,
    "cache_read": 1_000_000,
    "cache_5m": 200_000,
}
# 1M input, 0.2M 5-minute cache writes at 1.25 x input ($3.75), 0.1M out, 1M cache reads
ALICE_DAY1_MICROS = 3_000_000 + 750_000 + 1_500_000 + 300_000
BOB_DAY1_MICROS = 2_000_000 * 3 + 1_000_000 * 0  # 2M input, no output


def _serve_anthropic(server, alice_day1=None):
    server.anthropic = [
        anthropic_bucket(
            1,
            [
                anthropic_result("apikey_alice", **(alice_day1 or ALICE_DAY1)),
                anthropic_result("apikey_bob", uncached=2_000_000, output=0),
            ],
        ),
        anthropic_bucket(2, [anthropic_result("apikey_alice", uncached=1_000_000, output=0)]),
        anthropic_bucket(3, [anthropic_result("apikey_bob", uncached=0, output=1_000_000)]),
    ]


@pytest.fixture
def people(anthropic):
    alice, bob = EmployeeFactory(), EmployeeFactory()
    for key, employee in (("apikey_alice", alice), ("apikey_bob", bob)):
        identity_map(
            provider=Provider.ANTHROPIC, kind="api_key_id", external_id=key, employee=employee
        )
    return alice, bob


def middle(number: int):
    """When a daily bucket's usage is dated: its middle, on its own date in the company's zone."""
    return day(number) + timedelta(hours=12)


def _money_state() -> tuple:
    return (
        sorted(LedgerEntry.objects.values_list("budget_id", "kind", "amount_micros")),
        sorted(Budget.objects.values_list("pk", "spent_micros", "allocated_micros")),
        sorted(DailySpend.objects.values_list("budget_id", "day", "spent_micros", "events")),
        UsageEvent.objects.count(),
        sorted(UsageBucket.objects.values_list("pk", "version", "charged_micros", "state")),
        BucketPosting.objects.count(),
    )


def _spent(employee) -> int:
    return sum(Budget.objects.filter(employee=employee).values_list("spent_micros", flat=True))


def test_first_sync_posts_each_bucket_once_through_ingest_priced_by_the_price_table(
    provider_server, anthropic, people
):
    alice, bob = people
    _serve_anthropic(provider_server)
    lines = []

    outcome, _costs = usage_sync(Provider.ANTHROPIC, progress=lines.append)

    assert outcome.pages == 2 and outcome.totals.new == 4 and outcome.totals.posted == 4
    assert [line.split(":")[0] for line in lines] == [
        "anthropic messages page 1",
        "anthropic messages page 2",
        "anthropic cost_report page 1",
        "anthropic directory",  # not served here (404): skipped, said
    ]
    assert _spent(alice) == ALICE_DAY1_MICROS + 3_000_000
    assert _spent(bob) == BOB_DAY1_MICROS + 15_000_000
    first = UsageBucket.objects.get(
        starts_at=day(1), group_key__startswith="api_key_id=apikey_alice"
    )
    event = first.usage_event
    assert event.event_id == event_id_of(first)
    assert event.event_id.startswith(
        "anthropic:messages:2026-11-01T00:00:00Z:api_key_id=apikey_alice"
    )
    assert event.source == "connector:anthropic" and event.occurred_at == middle(1)
    assert (event.input_tokens, event.output_tokens, event.cached_input_tokens) == (
        1_000_000,
        100_000,
        1_000_000,
    )
    assert (event.cache_write_tokens, event.cache_write_1h_tokens) == (200_000, 0)
    assert event.price is not None and event.cost_micros == ALICE_DAY1_MICROS
    assert event.ledger_entry.kind == EntryKind.USAGE
    # the request as the provider documents it
    sent = provider_server.requests[0]
    assert sent["query"]["group_by[]"] == ["api_key_id", "workspace_id", "model"]
    assert sent["query"]["bucket_width"] == ["1d"]
    assert sent["query"]["starting_at"] == ["2026-11-01T00:00:00Z"]
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    assert headers["x-api-key"] == ADMIN_KEY and headers["anthropic-version"] == "2023-06-01"
    assert provider_server.requests[1]["query"]["page"] == ["page-2"]
    cursor = SyncCursor.objects.get(connection=anthropic, report="messages")
    assert cursor.synced_through is not None and not cursor.lease_token


def test_a_second_sync_with_the_same_numbers_changes_nothing(provider_server, anthropic, people):
    _serve_anthropic(provider_server)
    usage_sync(Provider.ANTHROPIC)
    before = _money_state()

    outcome, _costs = usage_sync(Provider.ANTHROPIC, since=day(1).date())

    assert outcome.totals.unchanged == 4 and outcome.totals.posted == 0
    assert _money_state() == before


def test_a_bucket_restated_upwards_posts_only_the_difference_as_version_2(
    provider_server, anthropic, people
):
    alice, _ = people
    _serve_anthropic(provider_server)
    usage_sync(Provider.ANTHROPIC)
    spent_before = _spent(alice)
    _serve_anthropic(provider_server, alice_day1={**ALICE_DAY1, "output": 300_000})

    outcome, _costs = usage_sync(Provider.ANTHROPIC, since=day(1).date())

    assert outcome.totals.restated == 1 and outcome.totals.corrections == 1
    assert _spent(alice) - spent_before == 3_000_000  # 200,000 more output at $15 a million
    bucket = UsageBucket.objects.get(starts_at=day(1), group_key__contains="apikey_alice")
    assert bucket.version == 2 and bucket.charged_micros == ALICE_DAY1_MICROS + 3_000_000
    [second] = bucket.postings.all()  # the first posting is the bucket's usage event
    assert (bucket.usage_event.cost_micros, second.amount_micros) == (ALICE_DAY1_MICROS, 3_000_000)
    assert second.version == 2
    assert second.usage_event.event_id == event_id_of(bucket) + ":v2"
    assert (second.usage_event.output_tokens, second.usage_event.input_tokens) == (200_000, 0)
    assert second.usage_event.occurred_at == middle(1)
    assert UsageEvent.objects.filter(employee=alice).count() == 3  # day 1, its v2, day 2
    # and the restated numbers read again: nothing more
    before = _money_state()
    usage_sync(Provider.ANTHROPIC, since=day(1).date())
    assert _money_state() == before


def test_a_bucket_restated_downwards_posts_a_negative_correction_on_the_budget_that_paid(
    provider_server, anthropic, people
):
    alice, _ = people
    _serve_anthropic(provider_server)
    usage_sync(Provider.ANTHROPIC)
    spent_before = _spent(alice)
    _serve_anthropic(provider_server, alice_day1={**ALICE_DAY1, "output": 0})

    usage_sync(Provider.ANTHROPIC, since=day(1).date())

    assert _spent(alice) - spent_before == -1_500_000
    bucket = UsageBucket.objects.get(starts_at=day(1), group_key__contains="apikey_alice")
    correction = bucket.postings.get(version=2)
    entry = correction.ledger_entry
    assert entry.kind == EntryKind.USAGE_CORRECTION and entry.amount_micros == -1_500_000
    assert entry.budget_id == bucket.usage_event.budget_id
    assert entry.idempotency_key == event_id_of(bucket, 2)
    rollup = DailySpend.objects.get(budget_id=entry.budget_id, day=middle(1).date())
    assert rollup.spent_micros == ALICE_DAY1_MICROS - 1_500_000
    assert UsageEvent.objects.filter(employee=alice).count() == 2  # no event for a decrease


def test_429_with_retry_after_is_waited_out_then_the_sync_succeeds(
    provider_server, anthropic, people
):
    _serve_anthropic(provider_server)
    provider_server.failures = [(429, {"retry-after": "7"}), (529, {})]
    waits = []

    outcome, _costs = usage_sync(Provider.ANTHROPIC, sleep=waits.append)

    assert waits == [7.0, 2.0]  # as told, then the second try's exponential wait
    assert outcome.totals.posted == 4
    # two refused, two pages, the cost report, the directory's first list (404 here)
    assert len(provider_server.requests) == 6


def test_a_provider_that_keeps_refusing_fails_the_run_after_bounded_tries(
    provider_server, anthropic, people
):
    _serve_anthropic(provider_server)
    provider_server.failures = [(429, {"retry-after": "3600"})] * 10
    waits = []

    with pytest.raises(Exception, match="answered 429"):
        usage_sync(Provider.ANTHROPIC, sleep=waits.append)

    assert waits == [60.0] * 5  # Retry-After capped; six tries in all
    assert UsageEvent.objects.count() == 0
    assert not SyncCursor.objects.get(
        connection=anthropic, report="messages"
    ).lease_token  # released


def test_an_unmapped_key_waits_in_the_queue_and_lands_dated_when_it_happened_once_mapped(
    provider_server, anthropic, people, client
):
    provider_server.anthropic = [
        anthropic_bucket(2, [anthropic_result("apikey_carol", uncached=1_000_000, output=0)])
    ]

    outcome, _costs = usage_sync(Provider.ANTHROPIC)

    assert outcome.totals.held == 1 and UsageEvent.objects.count() == 0
    held = UnassignedUsage.objects.get()
    assert held.estimated_micros == 3_000_000 and "apikey_carol" in held.hold_reason
    hr = hr_user()
    client.force_login(hr)
    page = client.get("/admin/connectors/unassignedusage/").content.decode()
    assert "<strong>1</strong> bucket held" in page and "$3.00" in page
    # read again while held: still held, nothing posted, nothing counted twice
    usage_sync(Provider.ANTHROPIC, since=day(1).date())
    assert UnassignedUsage.objects.count() == 1 and UsageEvent.objects.count() == 0

    carol = EmployeeFactory()
    response = client.post(
        "/admin/connectors/identitymapping/add/",
        {
            "provider": "anthropic",
            "kind": "api_key_id",
            "external_id": "apikey_carol",
            "employee": carol.pk,
        },
    )

    assert response.status_code == 302
    assert UnassignedUsage.objects.count() == 0
    event = UsageEvent.objects.get(employee=carol)
    assert event.occurred_at == middle(2) and event.cost_micros == 3_000_000
    assert _spent(carol) == 3_000_000
    assert IdentityMapping.objects.get(external_id="apikey_carol").created_by == hr
    before = _money_state()
    usage_sync(Provider.ANTHROPIC, since=day(1).date())
    assert _money_state() == before


def test_a_held_bucket_restated_before_it_is_mapped_posts_its_latest_numbers_once(
    provider_server, anthropic, people
):
    provider_server.anthropic = [
        anthropic_bucket(2, [anthropic_result("apikey_carol", uncached=1_000_000, output=0)])
    ]
    usage_sync(Provider.ANTHROPIC)
    provider_server.anthropic = [
        anthropic_bucket(2, [anthropic_result("apikey_carol", uncached=2_000_000, output=0)])
    ]
    usage_sync(Provider.ANTHROPIC, since=day(1).date())
    carol = EmployeeFactory()

    _, posted = identity_map(
        provider=Provider.ANTHROPIC, kind="api_key_id", external_id="apikey_carol", employee=carol
    )

    assert posted == 1 and _spent(carol) == 6_000_000
    assert UsageEvent.objects.get(employee=carol).input_tokens == 2_000_000


def test_dry_run_reports_what_would_change_and_writes_nothing(provider_server, anthropic, people):
    _serve_anthropic(provider_server)
    before = _money_state()
    lines = []

    outcome, _costs = usage_sync(Provider.ANTHROPIC, dry_run=True, progress=lines.append)

    assert outcome.totals.new == 4 and outcome.totals.posted == 4
    assert any("(dry run) page 1" in line for line in lines)
    assert _money_state() == before
    assert UsageBucket.objects.count() == 0
    assert not SyncCursor.objects.filter(synced_through__isnull=False).exists()


def test_a_run_finding_the_lease_taken_skips_and_says_so(provider_server, anthropic, people):
    _serve_anthropic(provider_server)
    cursor = SyncCursor.objects.create(connection=anthropic, report="messages")
    assert lease_take(cursor) is not None
    lines = []

    outcome, _costs = usage_sync(Provider.ANTHROPIC, progress=lines.append)

    assert outcome.skipped == "another sync of it is running"
    assert lines[0] == "anthropic messages: skipped, another sync of it is running"
    assert [r["path"] for r in provider_server.requests] == ["/v1/organizations/cost_report"]
    assert UsageEvent.objects.count() == 0


def test_openai_completions_user_and_project_mapped_cached_tokens_taken_out_of_input(
    provider_server, openai
):
    dana, lead = EmployeeFactory(), EmployeeFactory()
    project = ProjectFactory(lead=lead)
    identity_map(provider=Provider.OPENAI, kind="user_id", external_id="user-dana", employee=dana)
    identity_map(provider=Provider.OPENAI, kind="project_id", external_id="proj_x", project=project)
    provider_server.openai = [
        openai_bucket(
            4,
            [
                openai_result(
                    user_id="user-dana",
                    project_id="proj_x",
                    input_tokens=1_000_000,
                    cached=400_000,
                    output_tokens=100_000,
                ),
                openai_result(
                    user_id=None, project_id="proj_x", input_tokens=1_000_000, output_tokens=0
                ),
            ],
        )
    ]

    outcome, _costs = usage_sync(Provider.OPENAI)

    assert outcome.totals.posted == 2
    event = UsageEvent.objects.get(employee=dana)
    assert (event.input_tokens, event.cached_input_tokens, event.output_tokens) == (
        600_000,
        400_000,
        100_000,
    )
    assert event.cost_micros == 1_500_000 + 500_000 + 1_000_000
    assert event.project == project and event.event_id.startswith("openai:completions:")
    assert UsageEvent.objects.get(employee=lead).cost_micros == 2_500_000  # the project's lead
    sent = provider_server.requests[0]
    assert sent["query"]["group_by"] == ["user_id", "project_id", "api_key_id", "model"]
    assert sent["query"]["start_time"] == [str(int(day(1).timestamp()))]
    assert {k.lower(): v for k, v in sent["headers"].items()}["authorization"] == (
        f"Bearer {ADMIN_KEY}"
    )


def test_an_identifier_that_is_an_email_matches_its_employee_by_itself(openai):
    erin = EmployeeFactory(user__email="Erin@Example.com", user__username="erin")
    mappings = mappings_load(Provider.OPENAI, [{"user_id": "erin@example.com"}])

    assert mappings[("user_id", "erin@example.com")].employee == erin
    assert IdentityMapping.objects.get().matched_automatically


def test_the_command_prints_a_line_per_page_and_refuses_without_the_key(
    provider_server, anthropic, people, capsys, monkeypatch
):
    _serve_anthropic(provider_server)
    call_command("usage_sync", "anthropic", "--dry-run", "--since", "2026-11-01")
    out = capsys.readouterr().out
    assert "page 1" in out and "page 2" in out and "nothing was written" in out
    assert UsageEvent.objects.count() == 0

    monkeypatch.delenv("ALLOT_TEST_PROVIDER_ADMIN_KEY")
    with pytest.raises(CommandError, match="ALLOT_TEST_PROVIDER_ADMIN_KEY"):
        call_command("usage_sync", "anthropic")


def test_buckets_posted_keep_their_state(provider_server, anthropic, people):
    _serve_anthropic(provider_server)
    usage_sync(Provider.ANTHROPIC)
    assert set(UsageBucket.objects.values_list("state", flat=True)) == {BucketState.POSTED}


def test_a_price_correction_then_a_restatement_charges_the_bucket_once_at_the_new_price(
    provider_server, anthropic, people
):
    alice, _ = people
    _serve_anthropic(provider_server)
    usage_sync(Provider.ANTHROPIC)
    price = TokenPrice.objects.get(model_name="claude-sonnet-4-20250514")
    price_correct(
        price=price,
        new=NewPrice(3_000_000, 30_000_000, 300_000),
        reason="output was $30",
        acting_user=None,
    )
    _serve_anthropic(provider_server, alice_day1={**ALICE_DAY1, "output": 300_000})

    usage_sync(Provider.ANTHROPIC, since=day(1).date())

    # 300,000 output at $30 a million; the 5-minute cache writes at 1.25 x $3 input
    day1_at_new_price = 3_000_000 + 750_000 + 9_000_000 + 300_000
    assert _spent(alice) == day1_at_new_price + 3_000_000
    bucket = UsageBucket.objects.get(starts_at=day(1), group_key__contains="apikey_alice")
    assert bucket.postings.get(version=2).amount_micros == 6_000_000  # repricing not twice
    assert bucket.charged_micros == day1_at_new_price
    for budget in Budget.objects.all():
        spent = LedgerEntry.objects.filter(budget=budget, kind__in=SPENT_KINDS)
        assert budget.spent_micros == sum(spent.values_list("amount_micros", flat=True))


@pytest.mark.parametrize(
    ("variable", "base_url", "refused"),
    [
        ("SECRET_KEY", "", "admin_key_env"),
        ("DATABASE_URL", "", "admin_key_env"),
        ("ALLOT_ANTHROPIC_ADMIN_KEY", "http://attacker.example/", "base_url"),
        ("ALLOT_ANTHROPIC_ADMIN_KEY", "ftp://127.0.0.1/", "base_url"),
    ],
)
def test_a_connection_cannot_send_another_server_variable_or_go_anywhere_over_http(
    variable, base_url, refused, monkeypatch
):
    connection = ProviderConnection(
        provider="anthropic", admin_key_env=variable, base_url=base_url, start_on=day(1).date()
    )
    with pytest.raises(ValidationError) as refusal:
        connection.full_clean()
    assert refused in refusal.value.message_dict
    monkeypatch.setenv("SECRET_KEY", "the-server-secret")
    if variable == "SECRET_KEY":
        assert connection.admin_key == ""  # even for a row written around the admin


def test_cache_writes_are_priced_at_their_own_rates_not_the_input_rate(
    provider_server, anthropic, people
):
    """Anthropic bills 5-minute cache writes at 1.25 times input and 1-hour ones at 2 times
    (https://platform.claude.com/docs/en/about-claude/pricing); the messages usage report gives
    them as cache_creation.ephemeral_5m_input_tokens and ephemeral_1h_input_tokens."""
    alice, _ = people
    # a 5-minute rate of its own for the model; the 1-hour one left to its default (2 x $3)
    TokenPrice.objects.filter(model_name="claude-sonnet-4-20250514").update(
        cache_write_per_million_micros=4_000_000
    )
    provider_server.anthropic = [
        anthropic_bucket(
            1,
            [
                anthropic_result(
                    "apikey_alice", uncached=0, output=0, cache_5m=1_000_000, cache_1h=500_000
                )
            ],
        )
    ]

    usage_sync(Provider.ANTHROPIC)

    bucket = UsageBucket.objects.get()
    assert (bucket.input_tokens, bucket.cache_write_tokens, bucket.cache_write_1h_tokens) == (
        0,
        1_000_000,
        500_000,
    )
    event = bucket.usage_event
    assert (event.cache_write_tokens, event.cache_write_1h_tokens) == (1_000_000, 500_000)
    # $4 for the 5-minute writes, $3 for the 1-hour ones; at the input rate it was $4.50
    assert event.cost_micros == bucket.charged_micros == 7_000_000
    assert _spent(alice) == 7_000_000

    # restated with more 1-hour writes: only their difference, at their rate
    provider_server.anthropic = [
        anthropic_bucket(
            1,
            [
                anthropic_result(
                    "apikey_alice", uncached=0, output=0, cache_5m=1_000_000, cache_1h=1_000_000
                )
            ],
        )
    ]
    usage_sync(Provider.ANTHROPIC, since=day(1).date())

    [posting] = BucketPosting.objects.all()
    assert (posting.cache_write_1h_tokens, posting.amount_micros) == (500_000, 3_000_000)
    assert posting.usage_event.cache_write_1h_tokens == 500_000
    assert _spent(alice) == 10_000_000
