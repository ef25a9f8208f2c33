"""The payload hash is stored with every event: its text must never change, or a replay of an
event stored earlier would be taken for a conflict. The fast writer and the definition agree."""

import hashlib
import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from budgets.models import UsageCategory
from budgets.usage.parse import (
    ParsedEvent,
    _payload_canonical,
    payload_canonical_json,
    payload_hash,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def event(**fields) -> ParsedEvent:
    values = {
        "index": 0,
        "event_id": "gw-1",
        "employee_key": "ana@example.com",
        "model_name": "claude-sonnet-4",
        "input_tokens": 1200,
        "output_tokens": 300,
        "cached_input_tokens": 0,
        "cost_micros": None,
        "occurred_at": datetime(2026, 5, 4, 15, 30, tzinfo=UTC),
        "category": UsageCategory.CODE_GENERATION,
        "project_code": None,
        "metadata": {},
        "reservation_id": None,
    }
    return ParsedEvent(**{**values, **fields})


def test_the_hash_of_a_plain_event_is_the_one_stored_since_the_first_release():
    # Written down once from the first implementation (json.dumps of the list): a change to
    # the hashed text would make every stored event's replay look like a conflict.
    assert payload_canonical_json(event()) == (
        '["ana@example.com","claude-sonnet-4",1200,300,0,null,"2026-05-04T15:30:00+00:00",'
        '"code_generation",null,{},null]'
    )
    expected = hashlib.sha256(payload_canonical_json(event()).encode()).hexdigest()
    assert payload_hash(event()) == expected


@settings(max_examples=300, deadline=None)
@given(
    employee_key=st.text(min_size=1),
    model_name=st.text(min_size=1),
    counts=st.tuples(*[st.integers(min_value=0, max_value=10**12)] * 3),
    cost=st.none() | st.integers(min_value=0, max_value=10**15),
    cost_text=st.none() | st.decimals(min_value=0, max_value=10**5, places=9).map(str),
    occurred_at=st.datetimes(
        min_value=datetime(2001, 1, 1),  # noqa: DTZ001 (hypothesis wants naive bounds)
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    ),
    category=st.sampled_from(UsageCategory.values),
    project_code=st.none() | st.text(min_size=1, max_size=40),
    metadata=st.dictionaries(st.text(max_size=10), json_values, max_size=4),
    reservation=st.none() | st.uuids(),
)
def test_the_fast_text_equals_the_definition_for_any_event(
    employee_key,
    model_name,
    counts,
    cost,
    cost_text,
    occurred_at,
    category,
    project_code,
    metadata,
    reservation,
):
    parsed = event(
        employee_key=employee_key,
        model_name=model_name,
        input_tokens=counts[0],
        output_tokens=counts[1],
        cached_input_tokens=counts[2],
        cost_micros=cost,
        occurred_at=occurred_at,
        category=category,
        project_code=project_code,
        metadata=metadata,
        reservation_id=reservation,
    )
    parsed.cost_text = cost_text if cost is not None else None
    assert _payload_canonical(parsed) == payload_canonical_json(parsed)


def test_unusual_types_go_through_the_definition():
    odd = event(input_tokens=True, reservation_id=uuid.UUID(int=7))
    assert _payload_canonical(odd) == payload_canonical_json(odd)


def test_digits_below_a_micro_dollar_are_part_of_the_hashed_text():
    # an exact cost keeps the text stored since the first release; finer digits are kept as sent
    exact = event(cost_micros=123_456)
    finer = event(cost_micros=123_456, cost_text="0.1234561")
    assert ",0,123456," in payload_canonical_json(exact)
    assert ',0,"0.1234561",' in payload_canonical_json(finer)
    assert payload_hash(exact) != payload_hash(finer)
    assert _payload_canonical(finer) == payload_canonical_json(finer)
