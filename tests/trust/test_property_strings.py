"""Random Unicode, control characters, NUL and lone surrogates in every string field of usage and
authorize, posted through the API as gateways post them (and in the balance URL): never a 5xx,
and a request is either answered as written or writes nothing. Meant for PostgreSQL (text and
jsonb refuse NUL, COPY and array literals quote by hand); it runs on SQLite too.

ALLOT_PROPERTY_EXAMPLES sets the examples per endpoint; ALLOT_FUZZ_SEED=random explores new ones.
"""

import itertools
import json
import os
from datetime import timedelta
from typing import NamedTuple
from urllib.parse import quote

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from budgets.models import (
    Budget,
    Enforcement,
    LedgerEntry,
    Reservation,
    UsageCategory,
    UsageEvent,
)
from budgets.services import budget_allocate, budget_create
from people.selectors import current_fiscal_year
from tests.budgets.test_ledger import assert_totals_match_entries
from tests.factories import EmployeeFactory, ProjectFactory, api_key, price

pytestmark = pytest.mark.django_db

PROPERTY = settings(
    max_examples=int(os.environ.get("ALLOT_PROPERTY_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=os.environ.get("ALLOT_FUZZ_SEED") != "random",
)
SOURCE = "property"
gateways = itertools.count()


@pytest.fixture
def world(db):
    """An engineer (by email or external id) with a hard personal budget, a member of a project
    with its own budget, a priced model, and one key with every scope."""
    engineer = EmployeeFactory(user__email="eng@example.com", external_id="E-1")
    year = current_fiscal_year()
    personal, _ = budget_create(fiscal_year=year, employee=engineer, enforcement=Enforcement.HARD)
    budget_allocate(budget=personal, amount_micros=1_000 * 10**6, acting_user=None)
    project = ProjectFactory(code="checkout")
    project.members.add(engineer)
    on_project, _ = budget_create(fiscal_year=year, project=project)
    budget_allocate(budget=on_project, amount_micros=500 * 10**6, acting_user=None)
    price("gpt-test")
    return api_key("ingest", "authorize", "read_balances", source=SOURCE)


# Any code point (surrogates included) and the ones that break things most often.
character = st.one_of(
    st.characters(exclude_categories=()),
    st.sampled_from(
        [
            "\x00",
            "\ud800",
            "\udbff",
            "\udc00",
            "\udfff",
            "\x01",
            "\x1f",
            "\x7f",
            "\x85",
            "\u2028",
            "\ufeff",
            "\u202e",
            "\t",
            "\n",
            "\\",
            '"',
            "'",
            "{",
            "}",
            ",",
            "%",
            "١",
            "𝟘",
            "\U0010ffff",
        ]
    ),
)
text = st.text(character, max_size=12)


def spoiled(valid: str) -> st.SearchStrategy[str]:
    """A valid value as it is, with random text around it, or random text instead of it."""
    return st.one_of(
        st.just(valid),
        st.tuples(text, text).map(lambda around: around[0] + valid + around[1]),
        text,
    )


def mostly(valid, spoilt: st.SearchStrategy) -> st.SearchStrategy:
    """`valid` four times in five, else a draw of `spoilt`: for the fields an event needs right
    to be written at all (who, when), so that most batches reach the database's writes."""
    return st.integers(0, 4).flatmap(lambda n: spoilt if n == 0 else st.just(valid))


recently = (timezone.now() - timedelta(hours=1)).isoformat()
usage_event = st.fixed_dictionaries(
    {
        "id": st.one_of(st.uuids().map(str), st.uuids().flatmap(lambda u: spoiled(str(u)))),
        "employee": st.one_of(
            mostly("eng@example.com", spoiled("eng@example.com")), mostly("E-1", spoiled("E-1"))
        ),
        "model": spoiled("gpt-test"),  # any name is stored when the event carries its cost
        "input_tokens": st.integers(0, 10_000),
        "output_tokens": st.integers(0, 10_000),
        "occurred_at": mostly(recently, spoiled(recently)),
    },
    optional={
        "cost_usd": mostly("0.01", st.one_of(st.just("0.0000015"), spoiled("0.25"))),
        "category": st.one_of(st.sampled_from(UsageCategory.values), spoiled("testing")),
        "project": mostly("checkout", spoiled("checkout")),
        "metadata": st.dictionaries(
            text,
            st.one_of(text, st.integers(-(2**70), 2**70), st.lists(text, max_size=3)),
            max_size=4,
        ),
        "reservation": mostly(None, text),  # a reservation that is not one refuses the event
    },
)


def encoded(payload: dict, raw_utf8: bool) -> bytes:
    """As a careful client sends JSON (everything outside ASCII escaped, lone surrogates as
    \\ud800), or raw UTF-8 as most do (a lone surrogate then makes the body invalid UTF-8)."""
    if not raw_utf8:
        return json.dumps(payload).encode()
    return json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass")


class Counts(NamedTuple):
    events: int
    entries: int
    reservations: int
    budgets: list


def counts() -> Counts:
    return Counts(
        UsageEvent.objects.count(),
        LedgerEntry.objects.count(),
        Reservation.objects.count(),
        list(
            Budget.objects.order_by("pk").values_list(
                "allocated_micros", "spent_micros", "reserved_micros"
            )
        ),
    )


def assert_every_budget_adds_up() -> None:
    for budget in Budget.objects.all():
        assert_totals_match_entries(budget)


def storable(text: str) -> bool:
    return "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text)


def post(client, path: str, body: bytes, key: str):
    return client.post(
        path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}"
    )


@given(batch=st.lists(usage_event, min_size=1, max_size=4), raw_utf8=st.booleans())
@PROPERTY
def test_usage_with_any_text_is_answered_and_written_as_answered(client, world, batch, raw_utf8):
    # given the books as they stand, and a gateway of its own (ids are unique per key's source)
    source = f"gateway-{next(gateways)}"
    key = api_key("ingest", source=source)
    before = counts()
    body = encoded({"events": batch}, raw_utf8)

    # when a batch with random text in every string field is posted, and posted again
    response = post(client, "/api/v1/usage/", body, key)
    written = counts()
    retry = post(client, "/api/v1/usage/", body, key)

    # then the answer is a 200 or a 4xx that says why, never a 5xx
    assert response.status_code < 500 and retry.status_code == response.status_code
    answer = response.json()
    event(f"usage {response.status_code}, accepted: {bool(answer.get('accepted'))}")
    if response.status_code != 200:
        assert response.status_code == 400 and answer["detail"]
        assert counts() == written == before  # refused whole: nothing written
        return
    # and what the answer says was written is exactly what was written (compared with the batch
    # as the server read it: JSON joins an escaped high and low surrogate into one character)
    batch = json.loads(body)["events"]
    assert answer["accepted"] + answer["duplicates"] + len(answer["rejected"]) == len(batch)
    assert written.events - before.events == answer["accepted"]
    assert written.entries - before.entries == answer["accepted"]
    assert written.reservations == before.reservations
    refused = {row["index"]: row for row in answer["rejected"]}
    for index, sent in enumerate(batch):
        if index in refused:
            row = refused[index]
            assert row["errors"] and all(row["errors"].values())
            assert row["id"] is None or (storable(row["id"]) and row["id"] == sent["id"].strip())
            continue
        stored = UsageEvent.objects.get(source=source, event_id=sent["id"].strip())
        assert stored.model_name == sent["model"].strip()
        assert stored.metadata == (sent.get("metadata") or {})
    assert_every_budget_adds_up()
    # and the retry changes nothing: what was written is now a duplicate, the rest refused again
    assert retry.json() == {
        "accepted": 0,
        "duplicates": answer["accepted"] + answer["duplicates"],
        "rejected": answer["rejected"],
    }
    assert counts() == written


who = st.one_of(
    mostly("eng@example.com", spoiled("eng@example.com")), mostly("E-1", spoiled("E-1"))
)
optional_call_fields = {
    "project": spoiled("checkout"),
    "request_id": st.one_of(text, st.uuids().map(str)),
    "reserve": st.booleans(),
}
authorize_call = st.one_of(
    st.fixed_dictionaries(
        {
            "employee": who,
            "estimated_cost_usd": mostly("0.01", st.one_of(st.just("0"), spoiled("0.50"))),
        },
        optional=optional_call_fields,
    ),
    st.fixed_dictionaries(
        {
            "employee": who,
            "model": mostly("gpt-test", spoiled("gpt-test")),
            "input_tokens": st.integers(0, 10_000),
        },
        optional={"output_tokens": st.integers(0, 10_000), **optional_call_fields},
    ),
)


@given(call=authorize_call, raw_utf8=st.booleans())
@PROPERTY
def test_authorize_with_any_text_answers_and_holds_only_what_it_says(client, world, call, raw_utf8):
    # given the books as they stand
    before = counts()

    # when an authorize call with random text in every string field is posted
    body = encoded(call, raw_utf8)
    response = post(client, "/api/v1/authorize/", body, world)

    # then it is answered (a 200, or a 4xx naming what was wrong), never a 5xx
    assert response.status_code in (200, 400, 404, 409), response.content
    answer = response.json()
    after = counts()
    event(f"authorize {response.status_code}, held: {bool(answer.get('reservation'))}")
    assert (after.events, after.entries) == (before.events, before.entries)
    if response.status_code != 200:
        assert answer
        assert after == before  # refused: nothing held
        return
    # and a hold exists exactly when the answer names one, under the request id as sent
    reservation = answer["reservation"]
    assert after.reservations - before.reservations in ((1, 0) if reservation else (0,))
    if reservation:
        held = Reservation.objects.get(pk=reservation["id"])
        assert held.request_id == json.loads(body).get("request_id", "").strip()
    assert_every_budget_adds_up()


@given(key=st.one_of(spoiled("eng@example.com"), spoiled("E-1")))
@PROPERTY
def test_a_balance_asked_with_any_key_is_a_200_or_a_404(client, world, key):
    path = quote(key, safe="", errors="surrogatepass")

    response = client.get(
        f"/api/v1/employees/{path}/balance/", HTTP_AUTHORIZATION=f"Api-Key {world}"
    )

    assert response.status_code in (200, 404)
    event(f"balance {response.status_code}")
