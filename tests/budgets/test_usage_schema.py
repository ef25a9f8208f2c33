"""One source for the usage event: the parser's field list (EVENT_FIELDS) is what the parser
checks and what the OpenAPI schema of POST /api/v1/usage/ shows."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from budgets.usage.parse import EVENT_FIELDS, FieldKind, ParsedEvent, usage_event_parse

NOW = timezone.now()
VALID = {
    "id": "evt-1",
    "employee": "eng@example.com",
    "model": "sonnet",
    "input_tokens": 10,
    "output_tokens": 5,
    "cached_input_tokens": 0,
    "cost_usd": "0.01",
    "occurred_at": (NOW - timedelta(minutes=1)).isoformat(),
    "category": "testing",
    "project": "apollo",
    "metadata": {"repo": "shop"},
    "reservation": "6a1f4bd6-2f9e-4b4e-9a53-0c0b8d5d3e27",
}


def _resolve(components: dict, schema: dict) -> dict:
    """A property's schema with its $ref (bare or in a one-item allOf) looked up."""
    ref = schema.get("$ref") or next((s["$ref"] for s in schema.get("allOf", [])), None)
    return {**schema, **components[ref.rsplit("/", 1)[1]]} if ref else schema


def _usage_event_schema() -> tuple[dict, dict]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    body = schema["paths"]["/api/v1/usage/"]["post"]["requestBody"]["content"]
    batch = _resolve(components, body["application/json"]["schema"])
    return components, _resolve(components, batch["properties"]["events"]["items"])


def test_the_usage_schema_shows_the_parsers_fields_required_set_and_limits():
    components, event = _usage_event_schema()
    properties = {name: _resolve(components, p) for name, p in event["properties"].items()}

    assert list(properties) == [spec.name for spec in EVENT_FIELDS]
    assert set(event["required"]) == {spec.name for spec in EVENT_FIELDS if spec.required}
    assert {name: p.get("maxLength") for name, p in properties.items()} == {
        spec.name: spec.max_length for spec in EVENT_FIELDS
    }
    for spec in EVENT_FIELDS:
        shown = properties[spec.name]
        if spec.kind is FieldKind.TOKENS:
            assert (shown["type"], shown["minimum"], shown["maximum"]) == (
                "integer",
                spec.minimum,
                spec.maximum,
            )
        if spec.kind is FieldKind.CHOICE:
            assert shown["enum"] == [value for value, _ in spec.choices]
            assert shown["default"] == spec.default
        if spec.help_text:
            assert shown["description"] == spec.help_text


def test_a_whole_event_within_every_limit_parses():
    assert isinstance(usage_event_parse(VALID, index=0, now=NOW), ParsedEvent)


@pytest.mark.parametrize("spec", EVENT_FIELDS, ids=lambda spec: spec.name)
def test_the_parser_requires_what_the_field_list_requires(spec):
    without = {name: value for name, value in VALID.items() if name != spec.name}

    outcome = usage_event_parse(without, index=0, now=NOW)

    if spec.required:
        assert outcome[spec.name] == ["This field is required."]
    else:
        assert isinstance(outcome, ParsedEvent)


@pytest.mark.parametrize(
    "spec", [s for s in EVENT_FIELDS if s.max_length], ids=lambda spec: spec.name
)
def test_the_parser_takes_text_up_to_the_listed_max_length(spec):
    longest = usage_event_parse({**VALID, spec.name: "x" * spec.max_length}, index=0, now=NOW)
    too_long = usage_event_parse(
        {**VALID, spec.name: "x" * (spec.max_length + 1)}, index=0, now=NOW
    )

    assert isinstance(longest, ParsedEvent)
    assert too_long[spec.name] == [f"Must be 1 to {spec.max_length} characters."]


@pytest.mark.parametrize(
    "spec",
    [s for s in EVENT_FIELDS if s.kind in (FieldKind.TOKENS, FieldKind.DOLLARS)],
    ids=lambda spec: spec.name,
)
def test_the_parser_takes_numbers_within_the_listed_bounds(spec):
    def sent(number):
        return str(number) if spec.kind is FieldKind.DOLLARS else number

    step = Decimal("0.000001") if spec.kind is FieldKind.DOLLARS else 1
    for inside in (spec.minimum, spec.maximum):
        assert isinstance(
            usage_event_parse({**VALID, spec.name: sent(inside)}, index=0, now=NOW), ParsedEvent
        )
    for outside in (spec.minimum - step, spec.maximum + step):
        outcome = usage_event_parse({**VALID, spec.name: sent(outside)}, index=0, now=NOW)
        assert spec.name in outcome, outside


@pytest.mark.parametrize(
    "spec", [s for s in EVENT_FIELDS if s.kind is FieldKind.CHOICE], ids=lambda spec: spec.name
)
def test_the_parser_takes_exactly_the_listed_choices(spec):
    for value, _ in spec.choices:
        parsed = usage_event_parse({**VALID, spec.name: value}, index=0, now=NOW)
        assert isinstance(parsed, ParsedEvent)
    assert spec.name in usage_event_parse({**VALID, spec.name: "nonsense"}, index=0, now=NOW)
    absent = {name: value for name, value in VALID.items() if name != spec.name}
    assert usage_event_parse(absent, index=0, now=NOW).category == spec.default
