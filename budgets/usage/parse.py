"""A gateway event, checked field by field with no database: the event's schema (EVENT_FIELDS),
the parsed shape, and the payload hash that tells a replay from a conflict.

EVENT_FIELDS is the one declaration of the event's fields: the parser reads its names, limits
and choices, and budgets.serializers.UsageEventIn builds the API schema from it, so what the
documentation promises is what ingest checks."""

import enum
import hashlib
import json
import math
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from budgets.models import TokenPrice, UsageCategory
from common.money import MoneyError, dollars_to_micros, parse_decimal_string
from common.text import is_storable, text_problem
from people.models import Employee, Project

MAX_EVENTS_PER_BATCH = 5_000
MAX_TOKENS_PER_EVENT = 1_000_000_000  # an event may sum a session; more is a gateway bug
MAX_COST_USD_PER_EVENT = 100_000
MAX_COST_MICROS_PER_EVENT = MAX_COST_USD_PER_EVENT * 10**6
MAX_METADATA_BYTES = 4_096
MAX_METADATA_DEPTH = 16
ID_MAX_LENGTH = 200
MAX_FUTURE_SKEW = timedelta(minutes=5)
DEFAULT_SOURCE = "default"


class FieldKind(enum.Enum):
    TEXT = "text"  # a string, stripped, of 1 to max_length characters
    TOKENS = "tokens"  # a whole number from minimum to maximum
    DOLLARS = "dollars"  # a decimal string (or a whole number) from minimum to maximum
    MOMENT = "moment"  # an ISO 8601 date and time with a zone
    CHOICE = "choice"  # one of choices
    OBJECT = "object"  # a JSON object (see metadata_problem)
    RESERVATION = "reservation"  # a reservation id (a UUID) returned by authorize


@dataclass(frozen=True, slots=True)
class EventField:
    """One field of a gateway event, as the parser checks it and the API schema shows it."""

    name: str
    kind: FieldKind
    required: bool = False
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[tuple[str, str], ...] = ()  # (value, label)
    default: str | None = None
    help_text: str = ""


def _tokens_field(name: str, *, required: bool, help_text: str = "") -> EventField:
    return EventField(
        name,
        FieldKind.TOKENS,
        required=required,
        minimum=0,
        maximum=MAX_TOKENS_PER_EVENT,
        help_text=help_text,
    )


EVENT_FIELDS: tuple[EventField, ...] = (
    EventField(
        "id",
        FieldKind.TEXT,
        required=True,
        max_length=ID_MAX_LENGTH,
        help_text="Unique per source (your API key).",
    ),
    EventField(
        "employee",
        FieldKind.TEXT,
        required=True,
        max_length=254,
        help_text="Email or the HR system's external id.",
    ),
    EventField("model", FieldKind.TEXT, required=True, max_length=100),
    _tokens_field("input_tokens", required=True),
    _tokens_field("output_tokens", required=True),
    _tokens_field("cached_input_tokens", required=False, help_text="Read from a prompt cache."),
    _tokens_field(
        "cache_write_tokens",
        required=False,
        help_text="Written to a prompt cache kept 5 minutes (Anthropic's cache_creation "
        "ephemeral_5m_input_tokens); priced at the price table's cache-write rate, by default "
        "1.25 times input. Not counted in input_tokens.",
    ),
    _tokens_field(
        "cache_write_1h_tokens",
        required=False,
        help_text="Written to a prompt cache kept 1 hour (ephemeral_1h_input_tokens); by "
        "default 2 times input. Not counted in input_tokens.",
    ),
    EventField(
        "cost_usd",
        FieldKind.DOLLARS,
        minimum=0,
        maximum=MAX_COST_USD_PER_EVENT,
        help_text=(
            "Decimal string; when absent the price table prices the call. Charged rounded "
            "half-up to the micro-dollar (6 places); the digits sent count for idempotency."
        ),
    ),
    EventField(
        "occurred_at",
        FieldKind.MOMENT,
        required=True,
        help_text="ISO 8601 with a zone; not in the future.",
    ),
    EventField(
        "category",
        FieldKind.CHOICE,
        choices=tuple(UsageCategory.choices),
        default=UsageCategory.OTHER.value,
    ),
    EventField("project", FieldKind.TEXT, max_length=40, help_text="Project code."),
    EventField(
        "metadata",
        FieldKind.OBJECT,
        help_text=(
            f"At most {MAX_METADATA_BYTES:,} bytes of JSON, nested at most "
            f"{MAX_METADATA_DEPTH} levels deep."
        ),
    ),
    EventField("reservation", FieldKind.RESERVATION, help_text="Settles this reservation."),
)
EVENT_FIELD = {spec.name: spec for spec in EVENT_FIELDS}
# The parser's fields, bound once (the parser runs 5,000 times a batch).
ID_FIELD = EVENT_FIELD["id"]
_EMPLOYEE = EVENT_FIELD["employee"]
_MODEL = EVENT_FIELD["model"]
_INPUT_TOKENS = EVENT_FIELD["input_tokens"]
_OUTPUT_TOKENS = EVENT_FIELD["output_tokens"]
_CACHED_INPUT_TOKENS = EVENT_FIELD["cached_input_tokens"]
_CACHE_WRITE_TOKENS = EVENT_FIELD["cache_write_tokens"]
_CACHE_WRITE_1H_TOKENS = EVENT_FIELD["cache_write_1h_tokens"]
_PROJECT = EVENT_FIELD["project"]
_CATEGORY = EVENT_FIELD["category"]
CATEGORIES = frozenset(value for value, _ in _CATEGORY.choices)
_CATEGORY_REFUSAL = f"Must be one of: {', '.join(value for value, _ in _CATEGORY.choices)}."


@dataclass(frozen=True, slots=True)
class TeamRef:
    pk: int
    has_pool: bool
    pool_overflow: bool


@dataclass(frozen=True, slots=True)
class EmployeeRef:
    """What ingest needs of an employee (an Employee instance has the same attributes)."""

    pk: int
    team_id: int | None
    team: TeamRef | None


@dataclass
class ParsedEvent:
    index: int
    event_id: str
    employee_key: str
    model_name: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_micros: int | None
    occurred_at: datetime
    category: str
    project_code: str | None
    metadata: dict
    reservation_id: uuid.UUID | None
    payload_hash: str = ""
    # filled in by resolution (budgets.usage.resolve)
    employee: Employee | EmployeeRef | None = None
    project: Project | None = None
    price: TokenPrice | None = None
    cost_given: bool = False
    # cost_usd as sent when it has digits below the micro-dollar (cost_micros is rounded): the
    # fingerprint keeps them, so a replay with other digits is another payload, not a duplicate
    cost_text: str | None = None
    # prompt-cache writes, priced at their own rates (budgets.calculations.usage_cost_micros)
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, index: int, event_id: Any, errors: dict[str, list[str]]) -> None:
        self.rejected.append({"index": index, "id": event_id, "errors": errors})


# -- the field checks ----------------------------------------------------------------------------


def tokens_check(raw: dict, spec: EventField, errors: dict) -> int:
    name = spec.name
    value = raw.get(name)
    if value is None:
        if spec.required:
            errors[name] = ["This field is required."]
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        errors[name] = ["Must be a whole number of tokens."]
        return 0
    if value < spec.minimum:
        errors[name] = ["Cannot be negative."]
    elif value > spec.maximum:
        errors[name] = [f"{value:,} tokens in one event is not plausible (at most 10^9)."]
    return value


def text_check(raw: dict, spec: EventField, errors: dict) -> str | None:
    name = spec.name
    value = raw.get(name)
    if value is None or value == "":
        if spec.required:
            errors[name] = ["This field is required."]
        return None
    if isinstance(value, int) and not isinstance(value, bool) and name == "id":
        value = str(value)
    if not isinstance(value, str):
        errors[name] = ["Must be a string."]
        return None
    if not is_storable(value):
        errors[name] = [text_problem(value, name)]
        return None
    value = value.strip()
    if not value or len(value) > spec.max_length:
        errors[name] = [f"Must be 1 to {spec.max_length} characters."]
        return None
    return value


def _refusal(value: Any, name: str, otherwise: str) -> list[str]:
    """Why a field that is not free text (a choice, an amount, a date) was refused: a NUL or a
    lone surrogate named as such, else `otherwise`. Asked only once its own check failed, so
    the usual event pays nothing for it."""
    return [(isinstance(value, str) and text_problem(value, name)) or otherwise]


def metadata_problem(metadata: Any) -> str | None:
    """Why metadata cannot be stored as it is, or None: a JSON object of at most 4 KiB, at most
    16 levels deep, with no NaN, NUL or lone surrogates (PostgreSQL's jsonb refuses them) in
    its keys or values; a refusal names where in the metadata it is."""
    if not isinstance(metadata, dict):
        return "Must be a JSON object."
    if not metadata:
        return None  # most events carry none: nothing to walk or measure
    stack: list[tuple[Any, tuple]] = [(metadata, ())]
    while stack:
        value, path = stack.pop()
        if len(path) >= MAX_METADATA_DEPTH:
            return f"Is nested more than {MAX_METADATA_DEPTH} levels deep."
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    return f"The keys of {_metadata_place(path)} must be strings."
                if not is_storable(key):
                    return text_problem(key, f"A key of {_metadata_place(path)} ({ascii(key)})")
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
        elif isinstance(value, str):
            if not is_storable(value):
                return text_problem(value, _metadata_place(path))
        elif isinstance(value, float) and not math.isfinite(value):
            return "NaN and Infinity are not JSON."
        elif value is not None and not isinstance(value, bool | int | float):
            return "Must hold only JSON values."
    if len(json.dumps(metadata, separators=(",", ":"), allow_nan=False)) > MAX_METADATA_BYTES:
        return f"Is larger than {MAX_METADATA_BYTES:,} bytes."
    return None


def _metadata_place(path: tuple) -> str:
    """Where in the metadata, as a client would write it: metadata["tool"][0]."""
    return "metadata" + "".join(
        f"[{json.dumps(step)}]" if isinstance(step, str) else f"[{step}]" for step in path
    )


def _cost(raw: dict, errors: dict) -> tuple[int | None, str | None]:
    """cost_usd in micro-dollars, rounded half-up, and the amount as sent when it had digits
    below the micro (None otherwise)."""
    value = raw.get("cost_usd")
    if value is None:
        return None, None
    if isinstance(value, float):
        errors["cost_usd"] = ['Send money as a decimal string, e.g. "0.0123".']
        return None, None
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors["cost_usd"] = ['Must be a decimal string, e.g. "0.0123".']
        return None, None
    try:
        amount = parse_decimal_string(value) if isinstance(value, str) else Decimal(value)
        micros = dollars_to_micros(amount, exact=False)
    except MoneyError as exc:
        errors["cost_usd"] = _refusal(value, "cost_usd", str(exc))
        return None, None
    if micros < 0 or amount < 0:
        errors["cost_usd"] = ["Cannot be negative."]
    elif micros > MAX_COST_MICROS_PER_EVENT:
        errors["cost_usd"] = ["More than $100,000 for one call is not plausible."]
    elif amount.scaleb(6) != micros:
        return micros, f"{amount.normalize():f}"
    return micros, None


def _occurred_at(raw: dict, errors: dict, now: datetime) -> datetime | None:
    value = raw.get("occurred_at")
    if not value:
        errors["occurred_at"] = ["This field is required."]
        return None
    try:
        # Django's parser skips a NUL; refused here like everywhere else
        moment = parse_datetime(value) if isinstance(value, str) and is_storable(value) else None
    except ValueError:
        moment = None
    if moment is None:
        errors["occurred_at"] = _refusal(
            value, "occurred_at", "Must be an ISO 8601 date and time, e.g. 2026-05-04T15:30:00Z."
        )
        return None
    if timezone.is_naive(moment):
        errors["occurred_at"] = ["Needs a time zone (Z or an offset such as +02:00)."]
        return None
    if moment > now + MAX_FUTURE_SKEW:
        errors["occurred_at"] = ["Is in the future; usage is reported after it happens."]
    elif moment.year < 2001:
        errors["occurred_at"] = ["Is before 2001."]
    return moment


# -- the payload hash ----------------------------------------------------------------------------


def payload_hash(event: ParsedEvent) -> str:
    """SHA-256 of the event as sent, to tell a replay (same id, same contents) from a conflict.
    The text hashed is `payload_canonical_json`'s, byte for byte: it is stored with every event,
    so replays of events stored years ago must still match."""
    return hashlib.sha256(_payload_canonical(event).encode()).hexdigest()


def rounded_cost_hash(event: ParsedEvent) -> str:
    """The hash an event with digits below the micro-dollar was stored with before those
    digits were kept (its cost rounded): its replays are still duplicates."""
    return hashlib.sha256(
        payload_canonical_json(replace(event, cost_text=None)).encode()
    ).hexdigest()


def payload_canonical_json(event: ParsedEvent) -> str:
    """The definition of the hashed text: the event's fields as a compact JSON list, keys
    sorted, non-ASCII escaped."""
    return json.dumps(
        [
            event.employee_key,
            event.model_name,
            event.input_tokens,
            event.output_tokens,
            event.cached_input_tokens,
            event.cost_micros if event.cost_text is None else event.cost_text,
            event.occurred_at.astimezone(UTC).isoformat(),
            event.category,
            event.project_code,
            event.metadata,
            str(event.reservation_id) if event.reservation_id else None,
            # only an event with cache writes has them: the hashes stored before still match
            *(
                [event.cache_write_tokens, event.cache_write_1h_tokens]
                if event.cache_write_tokens or event.cache_write_1h_tokens
                else []
            ),
        ],
        sort_keys=True,
        separators=(",", ":"),
    )


def _payload_canonical(event: ParsedEvent) -> str:
    """`payload_canonical_json`'s text, written out directly for the usual event (a third of
    the time: no encoder object, no type dispatch per item); anything unusual goes through
    the definition. tests/budgets/test_payload_hash.py checks the two agree."""
    counts = (event.input_tokens, event.output_tokens, event.cached_input_tokens)
    cost = event.cost_micros
    if any(type(n) is not int for n in counts) or not (cost is None or type(cost) is int):
        return payload_canonical_json(event)
    if event.cache_write_tokens or event.cache_write_1h_tokens:
        return payload_canonical_json(event)
    quote = _json_string
    project = event.project_code
    metadata = event.metadata
    return "[%s,%s,%d,%d,%d,%s,%s,%s,%s,%s,%s]" % (  # noqa: UP031 (fastest here)
        quote(event.employee_key),
        quote(event.model_name),
        *counts,
        "null" if cost is None else cost if event.cost_text is None else quote(event.cost_text),
        quote(event.occurred_at.astimezone(UTC).isoformat()),
        quote(event.category),
        "null" if project is None else quote(project),
        json.dumps(metadata, sort_keys=True, separators=(",", ":")) if metadata else "{}",
        quote(str(event.reservation_id)) if event.reservation_id else "null",
    )


_json_string = json.encoder.encode_basestring_ascii  # what json.dumps quotes strings with


# -- one event -----------------------------------------------------------------------------------


def usage_event_parse(raw: Any, *, index: int, now: datetime) -> ParsedEvent | dict[str, list]:
    """One gateway event to a ParsedEvent, or a dict of field errors."""
    if not isinstance(raw, dict):
        return {"non_field_errors": ["Each event must be a JSON object."]}
    errors: dict[str, list[str]] = {}
    event_id = text_check(raw, ID_FIELD, errors)
    employee_key = text_check(raw, _EMPLOYEE, errors)
    model_name = text_check(raw, _MODEL, errors)
    input_tokens = tokens_check(raw, _INPUT_TOKENS, errors)
    output_tokens = tokens_check(raw, _OUTPUT_TOKENS, errors)
    cached = tokens_check(raw, _CACHED_INPUT_TOKENS, errors)
    cache_writes = tokens_check(raw, _CACHE_WRITE_TOKENS, errors)
    cache_writes_1h = tokens_check(raw, _CACHE_WRITE_1H_TOKENS, errors)
    cost, cost_text = _cost(raw, errors)
    occurred_at = _occurred_at(raw, errors, now)
    category = raw.get("category") or _CATEGORY.default
    if not isinstance(category, str) or category not in CATEGORIES:  # a list is unhashable
        errors["category"] = _refusal(category, "category", _CATEGORY_REFUSAL)
    project_code = text_check(raw, _PROJECT, errors)
    metadata = raw.get("metadata") or {}
    problem = metadata_problem(metadata)
    if problem:
        errors["metadata"] = [problem]
    reservation_id = None
    if raw.get("reservation") is not None:
        try:
            reservation_id = uuid.UUID(str(raw["reservation"]))
        except ValueError:
            errors["reservation"] = _refusal(
                raw["reservation"], "reservation", "Must be a reservation id returned by authorize."
            )
    if errors:
        return errors
    parsed = ParsedEvent(
        index=index,
        event_id=event_id,
        employee_key=employee_key,
        model_name=model_name,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached,
        cost_micros=cost,
        occurred_at=occurred_at,
        category=category,
        project_code=project_code,
        metadata=metadata,
        reservation_id=reservation_id,
    )
    parsed.cost_given = cost is not None
    parsed.cost_text = cost_text
    parsed.cache_write_tokens, parsed.cache_write_1h_tokens = cache_writes, cache_writes_1h
    parsed.payload_hash = payload_hash(parsed)
    return parsed


def rejected_id(raw: Any) -> str | None:
    """The id a refused event is answered with: as it would have been stored, or None when the
    id itself is wrong (echoing it as sent could put a lone surrogate in the answer)."""
    if not isinstance(raw, dict):
        return None
    return text_check(raw, ID_FIELD, {})
