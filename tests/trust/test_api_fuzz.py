"""Attacks on the API from its own OpenAPI schema (schemathesis) and on the usage and authorize
services with random, extreme and malformed values (hypothesis): every input ends in a clear
4xx or a correct result, never a 500, never a response that breaks the schema, never a partial
write."""

import json
import os
from datetime import UTC, timedelta

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance

from budgets.models import Budget, Enforcement, LedgerEntry, Reservation, UsageEvent
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_ingest
from config.wsgi import application
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, api_key, price

FUZZ = settings(
    max_examples=int(os.environ.get("ALLOT_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # The same cases on every run, so CI is repeatable; ALLOT_FUZZ_SEED=random explores new ones.
    derandomize=os.environ.get("ALLOT_FUZZ_SEED") != "random",
)


@pytest.fixture
def world(db):
    """An engineer with a hard budget, a priced model and a key with every scope."""
    engineer = EmployeeFactory(user__email="eng@example.com", external_id="E-1")
    budget, _ = budget_create(
        fiscal_year=current_fiscal_year(), employee=engineer, enforcement=Enforcement.HARD
    )
    budget_allocate(budget=budget, amount_micros=1_000_000_000, acting_user=None)
    price("gpt-test")
    return {
        "engineer": engineer,
        "key": api_key("ingest", "authorize", "read_balances"),
    }


def api_operations():
    raw = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(raw, default=str)))
    schema.app = application
    return [result.ok() for result in schema.get_all_operations()]


@pytest.fixture
def keep_test_connection():
    """The raw WSGI app closes the database connection after each request (as in production);
    Django's test client stops that so the test's transaction survives. Do the same here."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def test_no_input_from_the_schema_gets_a_500_or_an_off_schema_answer(world, keep_test_connection):
    operations = api_operations()
    assert {op.path for op in operations} >= {
        "/api/v1/usage/",
        "/api/v1/authorize/",
        "/api/v1/employees/{email}/balance/",
    }
    headers = {"Authorization": f"Api-Key {world['key']}"}

    for operation in operations:

        @given(case=operation.as_strategy())
        @FUZZ
        def attack(case):
            response = case.call(headers=headers)
            assert response.status_code < 500, (case.operation.label, response.text)
            # Schema-valid requests may still break a business rule (an unknown employee, a
            # cost and tokens both missing): a documented 4xx is the right answer for those.
            case.validate_response(
                response, headers=headers, excluded_checks=[positive_data_acceptance]
            )

        attack()


def totals():
    return (
        UsageEvent.objects.count(),
        LedgerEntry.objects.count(),
        Reservation.objects.count(),
        list(Budget.objects.values_list("allocated_micros", "spent_micros", "reserved_micros")),
    )


nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["NaN", "Infinity", "-inf", "1e999999", "0x10", "", " ", "\x00", "\ud800", "𝟘", "١٢٣"]
    ),
)
nasty_number = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    nasty_text,
    st.none(),
    st.booleans(),
)
nasty_time = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.sampled_from(["9999-12-31T23:59:59Z", "2026-13-40T00:00:00Z", "yesterday", "0"]),
    nasty_text,
)
event = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(min_size=1, max_size=80), st.integers(), st.none()),
        "employee": st.one_of(st.just("eng@example.com"), st.just("E-1"), nasty_text),
        "model": st.one_of(st.just("gpt-test"), nasty_text),
        "input_tokens": nasty_number,
        "output_tokens": nasty_number,
    },
    optional={
        "cost_usd": nasty_number,
        "occurred_at": nasty_time,
        "metadata": st.one_of(
            st.dictionaries(st.text(max_size=5), st.text(max_size=10), max_size=5),
            st.text(max_size=5),
            st.just({"blob": "x" * 20_000}),
        ),
        "category": nasty_text,
        "project": nasty_text,
        "reservation": nasty_text,
    },
)


@given(batch=st.lists(event, min_size=1, max_size=5))
@FUZZ
def test_usage_service_answers_every_event_and_writes_only_accepted_ones(world, batch):
    before_events = UsageEvent.objects.count()

    with transaction.atomic():
        result = usage_ingest(events=batch, source="fuzz")

    assert result.accepted + result.duplicates + len(result.rejected) == len(batch)
    assert all(r["errors"] for r in result.rejected)  # each refusal says why
    assert UsageEvent.objects.count() - before_events == result.accepted
    budget = Budget.objects.get()
    usage = LedgerEntry.objects.filter(budget=budget, kind="usage")
    assert budget.spent_micros == sum(usage.values_list("amount_micros", flat=True))


@given(
    estimate=nasty_number,
    employee=st.one_of(st.just("eng@example.com"), nasty_text),
    reserve=st.one_of(st.booleans(), nasty_text),
    tokens=nasty_number,
)
@FUZZ
def test_authorize_gives_an_answer_or_a_clear_4xx_and_holds_only_what_it_allows(
    client, world, estimate, employee, reserve, tokens
):
    before = totals()
    payload = {"employee": employee, "estimated_cost_usd": estimate, "reserve": reserve}
    if tokens is not None:
        payload |= {"model": "gpt-test", "estimated_input_tokens": tokens}
    body = json.dumps(payload, allow_nan=True)  # NaN and Infinity as a careless client sends them

    response = client.post(
        "/api/v1/authorize/",
        body,
        content_type="application/json",
        headers={"Authorization": f"Api-Key {world['key']}"},
    )

    assert response.status_code in (200, 400, 404), response.content
    if response.status_code != 200:
        assert response.json()  # a body that says what was wrong
        assert totals() == before
        return
    held = Reservation.objects.count() - before[2]
    assert held == (1 if response.json().get("reservation") else 0)
    budget = Budget.objects.get()
    assert 0 <= budget.reserved_micros <= budget.allocated_micros
    assert budget.spent_micros == before[3][0][1]


def test_far_future_event_is_refused_with_its_reason(world):
    far = (timezone.now() + timedelta(days=3650)).isoformat()
    result = usage_ingest(
        events=[
            {
                "id": "future",
                "employee": "eng@example.com",
                "model": "gpt-test",
                "input_tokens": 1,
                "output_tokens": 1,
                "occurred_at": far,
            }
        ],
        source="fuzz",
    )

    assert result.accepted == 0
    assert "occurred_at" in result.rejected[0]["errors"]
