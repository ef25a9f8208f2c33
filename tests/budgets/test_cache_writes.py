"""Prompt-cache writes priced at their own rates, not at the input rate.

Anthropic bills a write to a 5-minute prompt cache at 1.25 times the model's input rate and a
write to a 1-hour one at 2 times (cache reads at the cached-input rate): the pricing table at
https://platform.claude.com/docs/en/about-claude/pricing ("5m cache writes", "1h cache writes",
"Cache hits and refreshes"). Its messages usage report gives the writes apart, as
cache_creation.ephemeral_5m_input_tokens and ephemeral_1h_input_tokens
(https://platform.claude.com/docs/en/api/admin-api/usage-cost/get-messages-usage-report.md).
"""

import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from budgets.calculations import cache_write_rates, usage_cost_micros
from budgets.models import Budget, TokenPrice, UsageEvent
from budgets.pricing import NewPrice, price_correct
from budgets.selectors import repriced_spend
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_ingest
from budgets.usage.parse import payload_canonical_json, payload_hash, usage_event_parse
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, api_key, price

USAGE, AUTHORIZE = "/api/v1/usage/", "/api/v1/authorize/"
RATES = {  # $3 input, $15 output, $0.30 cache reads per million
    "input_per_million_micros": 3_000_000,
    "output_per_million_micros": 15_000_000,
    "cached_input_per_million_micros": 300_000,
}


def _cost(**counts) -> int:
    tokens = {"input_tokens": 0, "output_tokens": 0, "cached_input_tokens": 0} | counts
    return usage_cost_micros(**tokens, **RATES)


def test_cache_writes_default_to_the_documented_multiples_of_the_input_rate():
    # a million 5-minute writes at $3.75 (1.25 x $3), a million 1-hour ones at $6 (2 x $3)
    assert _cost(cache_write_tokens=1_000_000) == 3_750_000
    assert _cost(cache_write_1h_tokens=1_000_000) == 6_000_000
    # not the input rate they were charged at before
    assert _cost(cache_write_tokens=1_000_000) != _cost(input_tokens=1_000_000)
    # and one rounding for the whole call: 1 token of each is 3.75 + 6 micro-dollars = 9.75
    assert _cost(cache_write_tokens=1, cache_write_1h_tokens=1) == 10
    assert _cost(cache_write_tokens=1) == 4  # 3.75 half-up


def test_a_cache_write_rate_of_its_own_overrides_the_multiple():
    own = usage_cost_micros(
        input_tokens=0,
        output_tokens=0,
        cached_input_tokens=0,
        cache_write_tokens=1_000_000,
        cache_write_1h_tokens=1_000_000,
        cache_write_per_million_micros=4_000_000,
        cache_write_1h_per_million_micros=5_000_000,
        **RATES,
    )
    assert own == 9_000_000
    rates = TokenPrice(**RATES, cache_write_1h_per_million_micros=7_000_000)
    assert cache_write_rates(rates) == (3_750_000, 7_000_000)


def test_an_event_without_cache_writes_costs_and_hashes_as_before():
    # the cost: the three old terms only
    assert _cost(input_tokens=1_000, output_tokens=100, cached_input_tokens=10) == 4_503
    # the payload hash: the text hashed is the same list as before cache writes were counted
    now = timezone.now()
    raw = {
        "id": "e1",
        "employee": "a@example.com",
        "model": "m",
        "input_tokens": 5,
        "output_tokens": 6,
        "occurred_at": "2026-05-04T15:30:00Z",
    }
    old = usage_event_parse(raw, index=0, now=now)
    before = json.dumps(
        ["a@example.com", "m", 5, 6, 0, None, "2026-05-04T15:30:00+00:00", "other", None, {}, None],
        sort_keys=True,
        separators=(",", ":"),
    )
    assert old.payload_hash == hashlib.sha256(before.encode()).hexdigest()
    written = usage_event_parse({**raw, "cache_write_tokens": 7}, index=0, now=now)
    assert written.payload_hash != old.payload_hash  # another payload, not a replay
    assert written.payload_hash == payload_hash(written)
    assert json.loads(payload_canonical_json(written))[-2:] == [7, 0]


@pytest.fixture
def engineer(db):
    employee = EmployeeFactory(user__email="eng@example.com")
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=employee)
    budget_allocate(budget=budget, amount_micros=1_000 * 10**6, acting_user=None)
    price("sonnet", input_usd="3", output_usd="15")
    return employee


def _post(client, url: str, body: dict):
    return client.post(
        url,
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {api_key()}",
    )


def _event(n: int, **counts) -> dict:
    return {
        "id": f"cw-{n}",
        "employee": "eng@example.com",
        "model": "sonnet",
        "input_tokens": 0,
        "output_tokens": 0,
        "occurred_at": (timezone.now() - timedelta(minutes=5)).isoformat(),
        **counts,
    }


@pytest.mark.django_db
def test_the_api_prices_cache_writes_at_the_cache_write_rate(client, engineer):
    response = _post(
        client,
        USAGE,
        {
            "events": [
                _event(1, input_tokens=1_000_000, cache_write_tokens=1_000_000),
                _event(2, cache_write_1h_tokens=500_000),
            ]
        },
    )

    assert response.status_code == 200 and response.json()["accepted"] == 2
    first, second = UsageEvent.objects.order_by("event_id")
    assert (first.input_tokens, first.cache_write_tokens) == (1_000_000, 1_000_000)
    assert first.cost_micros == 3_000_000 + 3_750_000  # input $3, writes $3.75
    assert (second.cache_write_1h_tokens, second.cost_micros) == (500_000, 3_000_000)
    assert first.total_tokens == 2_000_000
    assert Budget.objects.get(employee=engineer).spent_micros == 9_750_000


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["cache_write_tokens", "cache_write_1h_tokens"])
def test_a_negative_cache_write_count_is_refused_naming_the_field(client, engineer, name):
    response = _post(client, USAGE, {"events": [_event(1, **{name: -1})]})
    [rejected] = response.json()["rejected"]
    assert rejected["errors"] == {name: ["Cannot be negative."]}
    assert not UsageEvent.objects.exists()

    refused = _post(
        client,
        AUTHORIZE,
        {"employee": "eng@example.com", "model": "sonnet", "input_tokens": 10, name: -5},
    )
    assert refused.status_code == 400 and name in json.dumps(refused.json())


@pytest.mark.django_db
def test_authorize_estimates_cache_writes_at_their_rate(client, engineer):
    # $1,000 allocated; a million 1-hour writes is $6, so $994 would remain
    answer = _post(
        client,
        AUTHORIZE,
        {
            "employee": "eng@example.com",
            "model": "sonnet",
            "input_tokens": 0,
            "output_tokens": 1,
            "cache_write_1h_tokens": 1_000_000,
        },
    ).json()

    assert answer["allowed"] is True
    assert answer["remaining_usd"] == "993.999985"  # $1,000 - $6 - $0.000015 of output


def test_the_api_schema_documents_the_cache_write_counts():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    event = components["UsageEventIn"]["properties"]
    authorize = components["AuthorizeIn"]["properties"]
    for name in ("cache_write_tokens", "cache_write_1h_tokens"):
        assert event[name]["type"] == "integer" and event[name]["minimum"] == 0
        assert name in authorize and authorize[name]["minimum"] == 0
        assert name not in components["UsageEventIn"].get("required", [])
    assert "1.25 times input" in event["cache_write_tokens"]["description"]


@pytest.mark.django_db
def test_a_price_correction_reprices_cache_writes_at_the_new_input_rates_multiple(engineer):
    # given a million 5-minute writes priced at $3.75 (1.25 x $3 input)
    usage_ingest(events=[_event(1, cache_write_tokens=1_000_000)])
    sonnet = TokenPrice.objects.get(model_name="sonnet")
    budget = Budget.objects.get(employee=engineer)
    assert budget.spent_micros == 3_750_000

    # when the input price is corrected to $4 (the cache-write rate left to its default)
    correction = price_correct(
        price=sonnet,
        new=NewPrice(4_000_000, 15_000_000, 0),
        reason="Input was $4",
        acting_user=None,
    )

    # then the writes cost 1.25 x $4 = $5: $1.25 more, once
    assert correction.delta_micros == 1_250_000
    budget.refresh_from_db()
    assert budget.spent_micros == 5_000_000
    sonnet.refresh_from_db()
    assert sonnet.cache_write_per_million_micros is None  # still the default
    # and the spend by month shows the events at the corrected price (the SQL form of the cost)
    [repriced] = repriced_spend(employee=engineer, fiscal_year=current_fiscal_year())
    assert repriced.delta_micros == 1_250_000
