import json
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from budgets.models import Budget, DailySpend, EntryKind, LedgerEntry, UsageEvent
from budgets.services import budget_allocate, budget_create
from budgets.usage.parse import rounded_cost_hash, usage_event_parse
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, ProjectFactory, TeamFactory, api_key, price

pytestmark = pytest.mark.django_db
URL = "/api/v1/usage/"


@pytest.fixture
def gateway(client):
    key = api_key()

    def post(events, *, raw=None, key_value=key):
        body = raw if raw is not None else json.dumps({"events": events})
        return client.post(
            URL, body, content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key_value}"
        )

    return post


@pytest.fixture
def engineer():
    employee = EmployeeFactory(user__email="eng@example.com", external_id="EMP-1")
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=employee)
    budget_allocate(budget=budget, amount_micros=1_000 * 10**6, acting_user=None)
    price("sonnet", input_usd="3", output_usd="15")
    return employee


def event(n, **overrides):
    base = {
        "id": f"evt-{n}",
        "employee": "eng@example.com",
        "model": "sonnet",
        "input_tokens": 1_000,
        "output_tokens": 100,
        "occurred_at": (timezone.now() - timedelta(minutes=n + 1)).isoformat(),
        "category": "code_review",
    }
    base.update(overrides)
    return base


def balances():
    return sorted(Budget.objects.values_list("pk", "allocated_micros", "spent_micros"))


def test_a_batch_is_priced_recorded_and_moves_the_balance(gateway, engineer):
    response = gateway([event(1), event(2, cost_usd="0.5", employee="EMP-1")])

    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    priced = UsageEvent.objects.get(event_id="evt-1")
    assert priced.cost_micros == 4_500  # 1000 x $3/M + 100 x $15/M = $0.0045
    assert priced.source == "gateway" and priced.budget.employee == engineer
    budget = Budget.objects.get(employee=engineer)
    assert budget.spent_micros == 504_500
    assert LedgerEntry.objects.filter(kind=EntryKind.USAGE).count() == 2
    assert DailySpend.objects.filter(budget=budget).values_list("spent_micros", flat=True)


def test_replaying_a_batch_twice_and_shuffled_changes_nothing(gateway, engineer):
    events = [event(n) for n in range(30)]
    assert gateway(events).json()["accepted"] == 30
    after_first = balances()
    entries = LedgerEntry.objects.count()

    second = gateway(events).json()
    shuffled = events[:]
    random.Random(3).shuffle(shuffled)
    third = gateway(shuffled).json()

    assert second == {"accepted": 0, "duplicates": 30, "rejected": []}
    assert third == {"accepted": 0, "duplicates": 30, "rejected": []}
    assert balances() == after_first
    assert LedgerEntry.objects.count() == entries


def test_the_same_id_with_other_contents_is_rejected_clearly(gateway, engineer):
    gateway([event(1)])
    response = gateway([event(1, input_tokens=999)]).json()

    assert response["accepted"] == 0
    assert response["rejected"][0]["id"] == "evt-1"
    assert "different contents" in response["rejected"][0]["errors"]["id"][0]


def test_costs_below_a_micro_dollar_are_rounded_but_still_tell_payloads_apart(gateway, engineer):
    # given an event whose cost has digits below the micro-dollar
    sent = event(1, cost_usd="0.1234561")
    assert gateway([sent]).json()["accepted"] == 1
    assert UsageEvent.objects.get(event_id="evt-1").cost_micros == 123_456  # half-up
    # then the same digits again are a duplicate, and other digits that round the same are not
    assert gateway([sent]).json()["duplicates"] == 1
    other = gateway([{**sent, "cost_usd": "0.1234564"}]).json()
    assert other["accepted"] == other["duplicates"] == 0
    assert "different contents" in other["rejected"][0]["errors"]["id"][0]
    # an event stored before the digits were kept (its hash from the rounded cost) still
    # replays as a duplicate
    old = {**sent, "id": "evt-old"}
    assert gateway([old]).json()["accepted"] == 1
    parsed = usage_event_parse(old, index=0, now=timezone.now())
    UsageEvent.objects.filter(event_id="evt-old").update(payload_hash=rounded_cost_hash(parsed))
    assert gateway([old]).json()["duplicates"] == 1
    # a cost that rounds to zero is recorded as zero; a negative one is refused however small
    assert gateway([event(2, cost_usd="0.0000004")]).json()["accepted"] == 1
    tiny_negative = gateway([event(3, cost_usd="-0.0000001")]).json()
    assert "cost_usd" in tiny_negative["rejected"][0]["errors"]


def test_one_bad_event_per_field_never_blocks_the_good_ones(gateway, engineer):
    bad = [
        event(10, id=""),
        event(11, employee="nobody@example.com"),
        event(12, model="unknown-model"),
        event(13, input_tokens=-5),
        event(14, output_tokens=10**12),
        event(15, cached_input_tokens="lots"),
        event(16, cost_usd=0.5),
        event(17, cost_usd="-1"),
        event(18, occurred_at=(timezone.now() + timedelta(days=2)).isoformat()),
        event(19, occurred_at="2026-05-04T15:30:00"),
        event(20, occurred_at="yesterday"),
        event(21, category="gaming"),
        event(26, category=["code_review"]),  # unhashable: was a 500 (found in review)
        event(27, category={"a": 1}),
        event(22, project="no-such-project"),
        event(23, metadata={"blob": "x" * 5_000}),
        event(24, metadata=["not", "an", "object"]),
        event(25, reservation="not-a-uuid"),
        "not an object",
    ]
    good = [event(1), event(2), event(3)]
    response = gateway(good[:1] + bad + good[1:]).json()

    assert response["accepted"] == 3
    rejected = {r["index"]: r["errors"] for r in response["rejected"]}
    assert len(rejected) == len(bad)
    fields = [next(iter(errors)) for _, errors in sorted(rejected.items())]
    assert fields == [
        "id",
        "employee",
        "model",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cost_usd",
        "cost_usd",
        "occurred_at",
        "occurred_at",
        "occurred_at",
        "category",
        "category",
        "category",
        "project",
        "metadata",
        "metadata",
        "reservation",
        "non_field_errors",
    ]
    assert "'unknown-model'" in rejected[3]["model"][0]
    assert "future" in rejected[9]["occurred_at"][0]
    assert "time zone" in rejected[10]["occurred_at"][0]


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        ("{not json", 400, "JSON parse error"),
        (json.dumps({"events": {"id": 1}}), 400, "must be a list"),
        (json.dumps([1, 2]), 400, "events"),
        (json.dumps({"events": [{}] * 5_001}), 413, "at most 5,000"),
    ],
)
def test_a_malformed_request_is_a_clear_4xx_and_writes_nothing(
    gateway, engineer, raw, status, message
):
    response = gateway(None, raw=raw)
    assert response.status_code == status
    assert message in json.dumps(response.json())
    assert not UsageEvent.objects.exists()


def test_a_missing_wrong_or_revoked_key_is_401(client, gateway, engineer):
    from budgets.models import IntegrationKey

    assert client.post(URL, {"events": []}, content_type="application/json").status_code == 401
    assert gateway([event(1)], key_value="nope.nope").status_code == 401
    IntegrationKey.objects.update(revoked=True)
    assert gateway([event(1)]).status_code == 401
    assert not UsageEvent.objects.exists()


def test_a_key_without_the_ingest_scope_is_403(client, engineer):
    key = api_key("read_balances", source="reader")
    response = client.post(
        URL,
        json.dumps({"events": [event(1)]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    assert response.status_code == 403


def test_event_ids_are_unique_per_source_not_globally(client, gateway, engineer):
    other = api_key(source="other-gateway")
    gateway([event(1)])
    response = client.post(
        URL,
        json.dumps({"events": [event(1)]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {other}",
    )
    assert response.json()["accepted"] == 1
    assert UsageEvent.objects.filter(event_id="evt-1").count() == 2


def test_the_batch_draws_down_in_the_documented_order(gateway, engineer):
    team = TeamFactory(has_pool=True, pool_overflow=True)
    engineer.team = team
    engineer.save()
    project = ProjectFactory(code="apollo")
    project.members.add(engineer)
    year = current_fiscal_year()
    project_budget, _ = budget_create(fiscal_year=year, project=project)
    budget_allocate(budget=project_budget, amount_micros=2 * 10**6, acting_user=None)
    pool, _ = budget_create(fiscal_year=year, team=team)
    budget_allocate(budget=pool, amount_micros=10**9, acting_user=None)

    response = gateway(
        [
            event(5, project="apollo", cost_usd="1.5"),  # project pays
            event(4, project="apollo", cost_usd="1.0"),  # project has 0.5 left: personal pays
            event(3, cost_usd="999.0"),  # personal has 999.0 left: it pays, to zero
            event(2, cost_usd="10"),  # personal empty: the pool overflows
        ]
    ).json()

    assert response["accepted"] == 4
    payers = dict(UsageEvent.objects.values_list("event_id", "budget__team__name"))
    owners = {e.event_id: e.budget.owner_kind for e in UsageEvent.objects.select_related("budget")}
    assert owners == {
        "evt-5": "project",
        "evt-4": "employee",
        "evt-3": "employee",
        "evt-2": "team",
    }
    assert payers["evt-2"] == team.name
