"""Small input and output serializers of the API.

Usage events are not validated here: budgets.usage.parse checks them, faster for 5,000 at a
time. UsageEventIn only shows them in the schema, and is built from the parser's own field
list (EVENT_FIELDS), so the two cannot drift apart."""

import re
from decimal import Decimal

from rest_framework import serializers

from budgets.usage.parse import EVENT_FIELDS, EventField, FieldKind
from common.api import DollarsField, TextField
from common.text import is_storable


def _documenting_field(spec: EventField) -> serializers.Field:
    """The DRF field that shows one event field in the schema, with the parser's limits."""
    options = {"required": spec.required}
    if spec.help_text:
        options["help_text"] = spec.help_text
    match spec.kind:
        case FieldKind.TEXT:
            return TextField(max_length=spec.max_length, **options)
        case FieldKind.TOKENS:
            return serializers.IntegerField(
                min_value=spec.minimum, max_value=spec.maximum, **options
            )
        case FieldKind.DOLLARS:
            # any number of decimal places is taken (rounded half-up to the micro-dollar)
            return DollarsField(
                max_digits=None,
                decimal_places=None,
                min_value=spec.minimum,
                max_value=spec.maximum,
                **options,
            )
        case FieldKind.MOMENT:
            return serializers.DateTimeField(**options)
        case FieldKind.CHOICE:
            return serializers.ChoiceField(choices=spec.choices, default=spec.default, **options)
        case FieldKind.OBJECT:
            return serializers.DictField(**options)
        case FieldKind.RESERVATION:
            return serializers.UUIDField(**options)
    raise TypeError(f"No schema field for {spec.kind}.")


# One gateway event, for the schema: its fields are the parser's (EVENT_FIELDS). A comment,
# not a docstring: drf-spectacular would publish a docstring as the schema's description.
class UsageEventIn(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {spec.name: _documenting_field(spec) for spec in EVENT_FIELDS}


class UsageBatchIn(serializers.Serializer):
    events = UsageEventIn(many=True, help_text="1 to 5,000 events.")


class RejectedEventOut(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.CharField(
        allow_null=True, help_text="The event's id; null when the id itself is what was wrong."
    )
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class UsageBatchOut(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = RejectedEventOut(many=True)


class AuthorizeIn(serializers.Serializer):
    employee = TextField(help_text="Email or external id.")
    estimated_cost_usd = DollarsField(
        max_digits=16, decimal_places=6, min_value=0, max_value=10**9, required=False
    )
    request_id = TextField(
        max_length=100,
        required=False,
        help_text="With reserve: your id for this call; a retry with the same id returns the "
        "same reservation instead of holding twice.",
    )
    model = TextField(required=False, help_text="With estimated tokens, instead.")
    input_tokens = serializers.IntegerField(min_value=0, max_value=1_000_000_000, required=False)
    output_tokens = serializers.IntegerField(min_value=0, max_value=1_000_000_000, required=False)
    cached_input_tokens = serializers.IntegerField(
        min_value=0, max_value=1_000_000_000, required=False
    )
    cache_write_tokens = serializers.IntegerField(
        min_value=0,
        max_value=1_000_000_000,
        required=False,
        help_text="Estimated tokens written to a 5-minute prompt cache (the cache-write rate).",
    )
    cache_write_1h_tokens = serializers.IntegerField(
        min_value=0,
        max_value=1_000_000_000,
        required=False,
        help_text="Estimated tokens written to a 1-hour prompt cache.",
    )
    project = TextField(required=False)
    reserve = serializers.BooleanField(
        default=False, help_text="Hold the estimate until a usage event settles it."
    )

    def validate(self, data):
        if "estimated_cost_usd" not in data and "model" not in data:
            raise serializers.ValidationError(
                "Send estimated_cost_usd, or model with estimated input/output tokens."
            )
        if "estimated_cost_usd" not in data and not (
            data.get("input_tokens") or data.get("output_tokens")
        ):
            raise serializers.ValidationError(
                {"input_tokens": "With model, send the estimated input and/or output tokens."}
            )
        return data


PLAIN_KEYS = {"employee", "estimated_cost_usd", "reserve", "request_id", "project"}


# The shape a gateway sends on every call: {"employee", "estimated_cost_usd" as a plain decimal
# string, and optionally "reserve" (a JSON boolean), "request_id", "project"}.
PLAIN_DOLLARS = re.compile(r"(0|[1-9][0-9]{0,8})(\.[0-9]{1,6})?|1000000000(\.0{1,6})?")
PLAIN_TEXT_FIELDS = {"employee": None, "request_id": 100, "project": None}
MICRO_DOLLAR = Decimal("0.000001")


def authorize_in_plain(data) -> dict | None:
    """What `AuthorizeIn` validates `data` to, for the plain shape only; None for anything else
    (then `AuthorizeIn` decides, and names the field of any error). DRF's field machinery was a
    tenth of an authorize call; tests/budgets/test_authorize_in_plain.py checks this against it,
    value for value."""
    if not isinstance(data, dict) or not data.keys() <= PLAIN_KEYS:
        return None
    dollars, reserve = data.get("estimated_cost_usd"), data.get("reserve", False)
    if (
        type(dollars) is not str
        or not PLAIN_DOLLARS.fullmatch(dollars)
        or type(reserve) is not bool
    ):
        return None
    values = {"estimated_cost_usd": Decimal(dollars).quantize(MICRO_DOLLAR), "reserve": reserve}
    for name, longest in PLAIN_TEXT_FIELDS.items():
        if name not in data:
            continue
        text = data[name]
        if type(text) is not str or not text or text != text.strip() or not is_storable(text):
            return None
        if longest is not None and len(text) > longest:
            return None
        values[name] = text
    return values if "employee" in values else None


class BudgetRefOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    owner = serializers.CharField()
    fiscal_year = serializers.IntegerField()


class ReservationOut(serializers.Serializer):
    id = serializers.UUIDField()
    amount_usd = serializers.CharField()
    expires_at = serializers.DateTimeField()


class ReservationReleaseOut(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.ChoiceField(choices=["released", "expired"])
    amount_usd = serializers.CharField()
    budget = BudgetRefOut()
    closed_at = serializers.DateTimeField()


class AuthorizeOut(serializers.Serializer):
    allowed = serializers.BooleanField()
    budget = BudgetRefOut(allow_null=True)
    remaining_usd = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    warnings = serializers.ListField(child=serializers.CharField())
    reservation = ReservationOut(allow_null=True)


class BudgetBalanceOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    owner = serializers.CharField()
    fiscal_year = serializers.IntegerField()
    enforcement = serializers.CharField()
    allocated_usd = serializers.CharField(allow_null=True)
    spent_usd = serializers.CharField(allow_null=True)
    reserved_usd = serializers.CharField(allow_null=True)
    remaining_usd = serializers.CharField(allow_null=True)
    utilisation_percent = serializers.CharField(allow_null=True)
    burn_rate_usd_per_day = serializers.CharField(allow_null=True)
    projected_exhaustion_date = serializers.DateField(allow_null=True)
    tokens_left = serializers.IntegerField(allow_null=True)


class BalanceOut(serializers.Serializer):
    employee = serializers.EmailField()
    fiscal_year = serializers.IntegerField()
    reference_rate_usd_per_token = serializers.CharField(
        allow_null=True, help_text="Null for a viewer whose transparency hides dollars."
    )
    budgets = BudgetBalanceOut(many=True)
