"""Usage ingestion: a batch of gateway events, validated one by one, written in one transaction.

The write is set-based: the budgets a batch can touch are locked once (in id order, so two
batches cannot deadlock), the drawdown is decided in memory against those locked totals, then
ledger entries and events go in as two bulk INSERTs, budgets as one bulk UPDATE and the daily
rollup as one upsert. A bad event is reported in `rejected` and never blocks the good ones.

On PostgreSQL the entries and events are written with COPY *before* the budget locks are
taken, with the payers the unlocked totals give; under the locks the drawdown is decided again
and, if any payer moved, the transaction is rolled back and redone with the locks first. The
stored rows are always those of the decision made under the locks (one rule, `drawdown_payer`,
shared with authorize), while the locks are held only for that decision and the UPDATEs.
"""

import hashlib
import json
import math
import uuid
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from budgets.calculations import cost_at, limit_micros
from budgets.carryover import freed_hold_forfeitures
from budgets.ledger import (
    DaySpend,
    EntryRow,
    Owner,
    budgets_open,
    copy_rows,
    daily_spend_add,
    entries_copy,
    totals_set,
)
from budgets.models import (
    Budget,
    EntryKind,
    OwnerKind,
    Reservation,
    ReservationState,
    TokenPrice,
    UsageCategory,
    UsageEvent,
)
from budgets.rollover import FreedHold, closed_by_rollover, hold_forfeitures_post
from common.errors import AllotError
from common.money import Micros, MoneyError, dollars_to_micros, parse_decimal_string
from common.rawsql import Columns, int_array, model_columns, text_array
from common.text import is_storable, text_problem
from people.models import Employee, Project
from people.selectors import company_settings

MAX_EVENTS_PER_BATCH = 5_000
MAX_TOKENS_PER_EVENT = 1_000_000_000  # an event may sum a session; more is a gateway bug
MAX_COST_MICROS_PER_EVENT = 100_000 * 10**6
MAX_METADATA_BYTES = 4_096
MAX_METADATA_DEPTH = 16
ID_MAX_LENGTH = 200
MAX_FUTURE_SKEW = timedelta(minutes=5)
DEFAULT_SOURCE = "default"
# PostgreSQL: COPY a batch's rows before taking the budget locks (see _write). Off, the rows are
# written under the locks; the results are the same (tests/budgets/test_ingest_paths.py).
WRITE_BEFORE_LOCKING = True
CATEGORIES = frozenset(UsageCategory.values)  # .values builds a new list on every call


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
    employee: "Employee | _EmployeeRef | None" = None
    project: Project | None = None
    price: TokenPrice | None = None
    cost_given: bool = False
    # cost_usd as sent when it has digits below the micro-dollar (cost_micros is rounded): the
    # fingerprint keeps them, so a replay with other digits is another payload, not a duplicate
    cost_text: str | None = None


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, index: int, event_id: Any, errors: dict[str, list[str]]) -> None:
        self.rejected.append({"index": index, "id": event_id, "errors": errors})


# -- validation, one event at a time (no database) -----------------------------------------------


def _tokens(raw: dict, name: str, errors: dict, *, required: bool) -> int:
    value = raw.get(name)
    if value is None:
        if required:
            errors[name] = ["This field is required."]
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        errors[name] = ["Must be a whole number of tokens."]
        return 0
    if value < 0:
        errors[name] = ["Cannot be negative."]
    elif value > MAX_TOKENS_PER_EVENT:
        errors[name] = [f"{value:,} tokens in one event is not plausible (at most 10^9)."]
    return value


def _text(raw: dict, name: str, errors: dict, *, max_length: int, required: bool = True):
    value = raw.get(name)
    if value is None or value == "":
        if required:
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
    if not value or len(value) > max_length:
        errors[name] = [f"Must be 1 to {max_length} characters."]
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


def payload_hash(event: ParsedEvent) -> str:
    """SHA-256 of the event as sent, to tell a replay (same id, same contents) from a conflict.
    The text hashed is `payload_canonical_json`'s, byte for byte: it is stored with every event,
    so replays of events stored years ago must still match."""
    return hashlib.sha256(_payload_canonical(event).encode()).hexdigest()


def _rounded_cost_hash(event: ParsedEvent) -> str:
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


def usage_event_parse(raw: Any, *, index: int, now: datetime) -> ParsedEvent | dict[str, list]:
    """One gateway event to a ParsedEvent, or a dict of field errors."""
    if not isinstance(raw, dict):
        return {"non_field_errors": ["Each event must be a JSON object."]}
    errors: dict[str, list[str]] = {}
    event_id = _text(raw, "id", errors, max_length=ID_MAX_LENGTH)
    employee_key = _text(raw, "employee", errors, max_length=254)
    model_name = _text(raw, "model", errors, max_length=100)
    input_tokens = _tokens(raw, "input_tokens", errors, required=True)
    output_tokens = _tokens(raw, "output_tokens", errors, required=True)
    cached = _tokens(raw, "cached_input_tokens", errors, required=False)
    cost, cost_text = _cost(raw, errors)
    occurred_at = _occurred_at(raw, errors, now)
    category = raw.get("category") or UsageCategory.OTHER
    if not isinstance(category, str) or category not in CATEGORIES:  # a list is unhashable
        errors["category"] = _refusal(
            category, "category", f"Must be one of: {', '.join(UsageCategory.values)}."
        )
    project_code = _text(raw, "project", errors, max_length=40, required=False)
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
    parsed.payload_hash = payload_hash(parsed)
    return parsed


# -- resolution against the database (a few queries per batch, not per event) --------------------


@dataclass(frozen=True, slots=True)
class _TeamRef:
    pk: int
    has_pool: bool
    pool_overflow: bool


@dataclass(frozen=True, slots=True)
class _EmployeeRef:
    """What ingest needs of an employee (an Employee instance has the same attributes)."""

    pk: int
    team_id: int | None
    team: _TeamRef | None


def _employees_by_key(keys: set[str]) -> dict[str, Employee | _EmployeeRef]:
    """Employees by lower-cased email, then by external id, in two indexed lookups (an OR
    across the user join would scan every user). On PostgreSQL hand-written with array
    parameters, returning only the ids and team flags ingest needs: building a thousand
    Employee, User and Team instances cost more than the query."""
    found: dict[str, Employee | _EmployeeRef] = {}
    lowered = sorted({key.lower() for key in keys if "@" in key})
    if connection.vendor != "postgresql":
        employees = Employee.objects.select_related("user", "team")
        if lowered:
            by_email = employees.annotate(email_lower=Lower("user__email")).filter(
                email_lower__in=lowered
            )
            found.update((employee.email_lower, employee) for employee in by_email)
        others = {key for key in keys if key.lower() not in found}
        if others:
            found.update((e.external_id, e) for e in employees.filter(external_id__in=others))
        return found
    from django.contrib.auth import get_user_model

    from people.models import Team

    select = (
        "SELECT {key}, e.id, e.team_id, t.has_pool, t.pool_overflow "  # nosec B608  # noqa: S608
        f"FROM {Employee._meta.db_table} e "
        f"JOIN {get_user_model()._meta.db_table} u ON u.id = e.user_id "
        f"LEFT JOIN {Team._meta.db_table} t ON t.id = e.team_id WHERE {{key}} = ANY(%s::text[])"
    )
    with connection.cursor() as cursor:
        for key_sql, wanted in (("LOWER(u.email)", lowered), ("e.external_id", None)):
            if wanted is None:
                wanted = sorted(key for key in keys if key.lower() not in found)
            if not wanted:
                continue
            cursor.execute(select.format(key=key_sql), [text_array(wanted)])
            for key, pk, team_id, has_pool, overflow in cursor.fetchall():
                team = _TeamRef(team_id, has_pool, overflow) if team_id else None
                found[key] = _EmployeeRef(pk, team_id, team)
    return found


def _resolve_employees(events: list[ParsedEvent], result: IngestResult) -> list[ParsedEvent]:
    keys = {e.employee_key for e in events if e.employee is None}
    found = _employees_by_key(keys) if keys else {}
    kept = []
    for event in events:
        if event.employee is None:
            event.employee = found.get(event.employee_key) or found.get(event.employee_key.lower())
        if event.employee is None:
            result.reject(
                event.index,
                event.event_id,
                {"employee": [f"No employee with email or external id {event.employee_key!r}."]},
            )
            continue
        kept.append(event)
    return kept


def _resolve_projects(events: list[ParsedEvent], result: IngestResult) -> list[ParsedEvent]:
    codes = {e.project_code for e in events if e.project_code and e.project is None}
    found = {p.code: p for p in Project.objects.filter(code__in=codes)} if codes else {}
    kept = []
    for event in events:
        if event.project_code and event.project is None:
            event.project = found.get(event.project_code)
            if event.project is None:
                result.reject(
                    event.index,
                    event.event_id,
                    {"project": [f"No project with code {event.project_code!r}."]},
                )
                continue
        kept.append(event)
    return kept


def _price(events: list[ParsedEvent], result: IngestResult) -> list[ParsedEvent]:
    """Cost from the price in force for the model when the call happened (effective-dated).
    Runs inside the write transaction; on PostgreSQL the price rows are share-locked."""
    models = {e.model_name for e in events if not e.cost_given}
    versions: dict[str, list[TokenPrice]] = defaultdict(list)
    prices = TokenPrice.objects.filter(model_name__in=models).order_by("effective_from")
    if models and connection.vendor == "postgresql":
        prices = TokenPrice.objects.raw(
            f"SELECT * FROM {TokenPrice._meta.db_table} WHERE model_name = ANY(%s) "  # nosec B608  # noqa: S608
            "ORDER BY effective_from FOR SHARE",
            [sorted(models)],
        )
    for price in prices if models else []:
        versions[price.model_name].append(price)
    starts = {name: [p.effective_from for p in prices] for name, prices in versions.items()}
    kept = []
    for event in events:
        if not event.cost_given:
            position = bisect_right(starts.get(event.model_name, []), event.occurred_at)
            if position == 0:
                result.reject(
                    event.index,
                    event.event_id,
                    {
                        "model": [
                            f"No price is known for model {event.model_name!r} at "
                            f"{event.occurred_at.isoformat()}; send cost_usd or ask finance to "
                            "add the model to the price table."
                        ]
                    },
                )
                continue
            price = versions[event.model_name][position - 1]
            event.price = price
            event.cost_micros = cost_at(
                price,
                input_tokens=event.input_tokens,
                output_tokens=event.output_tokens,
                cached_input_tokens=event.cached_input_tokens,
            )
            if event.cost_micros > MAX_COST_MICROS_PER_EVENT:
                result.reject(
                    event.index,
                    event.event_id,
                    {"input_tokens": ["Priced above $100,000 for one call: not plausible."]},
                )
                continue
        kept.append(event)
    return kept


# -- the write -----------------------------------------------------------------------------------


def drawdown_order(
    *,
    project_budget: Budget | None,
    personal: Budget | None,
    pool: Budget | None,
) -> list[Budget]:
    """PRODUCT.md's order: the project's allocation (for members), personal, then the team pool
    where the team lets usage overflow into it."""
    return [b for b in (project_budget, personal, pool) if b is not None]


def has_room(budget: Budget, amount_micros: int) -> bool:
    """Whether a budget can take this spend within its limit: the allocation for a soft budget,
    the allocation plus any overdraft for a hard one. Reserved money counts as spent."""
    limit = budget.limit_micros
    if limit is None:
        limit = budget.allocated_micros
    return budget.spent_micros + budget.reserved_micros + amount_micros <= limit


def drawdown_payer(order: list[Budget], amount_micros: int) -> Budget | None:
    """The first budget in drawdown order with room; else the first soft one (soft budgets allow
    and warn); None when only full hard budgets remain. Authorize and ingest share this rule."""
    fitting = next((b for b in order if has_room(b, amount_micros)), None)
    if fitting is not None:
        return fitting
    return next((b for b in order if b.limit_micros is None), None)


def _fiscal_year(day: date, start_month: int) -> int:
    return day.year if day.month >= start_month else day.year - 1


def _ensure_personal_budgets(events: list[ParsedEvent], fiscal_years: dict[int, int]) -> None:
    """Create the personal budgets the batch needs and lacks (before any budget is locked: an
    insert that meets a concurrent one waits for it, which must not happen under our locks)."""
    pairs = {(e.employee.pk, fiscal_years[e.index]) for e in events}
    employee_ids = sorted({emp for emp, _ in pairs})
    years = sorted(set(fiscal_years.values()))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT employee_id, fiscal_year FROM {Budget._meta.db_table} "  # nosec B608  # noqa: S608
                "WHERE employee_id = ANY(%s::bigint[]) AND fiscal_year = ANY(%s::int[])",
                [int_array(employee_ids), int_array(years)],
            )
            have = set(cursor.fetchall())
    else:
        have = set(
            Budget.objects.filter(employee_id__in=employee_ids, fiscal_year__in=years).values_list(
                "employee_id", "fiscal_year"
            )
        )
    missing = sorted(pairs - have)
    by_year: dict[int, list[Owner]] = defaultdict(list)
    for employee_id, fiscal_year in missing:
        by_year[fiscal_year].append(Owner(OwnerKind.EMPLOYEE, employee_id))
    for fiscal_year, owners in sorted(by_year.items()):
        budgets_open(fiscal_year=fiscal_year, owners=owners)


def _budgets_for(
    events: list[ParsedEvent], fiscal_years: dict[int, int], extra_ids: set[int], *, lock: bool
) -> tuple[dict, dict]:
    """Every budget the batch may draw from (by owner and year, plus `extra_ids`: the budgets of
    reservations being settled), locked in id order when `lock` (so two batches cannot
    deadlock). On PostgreSQL one hand-written statement with array parameters: the ORM's
    IN lists of a thousand placeholders cost more to build and parse than the query."""
    employee_ids = sorted({e.employee.pk for e in events})
    team_ids = sorted({e.employee.team_id for e in events if e.employee.team_id})
    project_ids = sorted({e.project.pk for e in events if e.project})
    years = sorted(set(fiscal_years.values()))
    if connection.vendor == "postgresql":
        columns = _budget_columns()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns.select} FROM {Budget._meta.db_table} b "  # nosec B608  # noqa: S608
                "WHERE (b.employee_id = ANY(%s::bigint[]) OR b.team_id = ANY(%s::bigint[])"
                " OR b.project_id = ANY(%s::bigint[]) OR b.id = ANY(%s::bigint[]))"
                " AND (b.fiscal_year = ANY(%s::int[]) OR b.id = ANY(%s::bigint[])) "
                f"ORDER BY b.id{' FOR UPDATE' if lock else ''}",
                [
                    int_array(employee_ids),
                    int_array(team_ids),
                    int_array(project_ids),
                    int_array(sorted(extra_ids)),
                    int_array(years),
                    int_array(sorted(extra_ids)),
                ],
            )
            found = [_BudgetRow(*row) for row in cursor.fetchall()]
    else:
        owners = Q(employee_id__in=employee_ids)
        if extra_ids:
            owners |= Q(pk__in=extra_ids)
        if team_ids:
            owners |= Q(team_id__in=team_ids)
        if project_ids:
            owners |= Q(project_id__in=project_ids)
        budgets = Budget.objects.filter(owners, Q(fiscal_year__in=years) | Q(pk__in=extra_ids))
        if lock:
            budgets = budgets.select_for_update()
        found = list(budgets.order_by("pk"))
    by_owner: dict[tuple[str, int, int], Budget] = {}
    for budget in found:
        kind = "employee" if budget.employee_id else "team" if budget.team_id else "project"
        owner_id = budget.employee_id or budget.team_id or budget.project_id
        by_owner[(kind, owner_id, budget.fiscal_year)] = budget
    return by_owner, {budget.id: budget for budget in found}


@dataclass(slots=True)
class _BudgetRow:
    """What the drawdown, its limits and the totals need of a budget (a Budget instance has the
    same attributes; building a thousand of those cost more than the query that reads them)."""

    id: int
    employee_id: int | None
    team_id: int | None
    project_id: int | None
    fiscal_year: int
    enforcement: str
    overdraft_percent: Decimal
    allocated_micros: int
    spent_micros: int
    reserved_micros: int

    @property
    def limit_micros(self) -> int | None:  # a hold forfeited mid-batch moves allocated
        return limit_micros(
            enforcement=self.enforcement,
            allocated_micros=self.allocated_micros,
            overdraft_percent=self.overdraft_percent,
        )


@cache
def _budget_columns() -> Columns:
    """The SELECT list of a _BudgetRow, in its fields' order."""
    read = [f.name for f in fields(_BudgetRow) if f.init]
    columns = model_columns(Budget, "b", connection, only=[n.removesuffix("_id") for n in read])
    if columns.names != read or columns.converters:
        raise TypeError(f"Budget's columns {columns.names} no longer fit _BudgetRow.")
    return columns


class _PayersMoved(Exception):
    """Under the locks, some event's payer differs from the one its rows were written with."""


@dataclass
class _Drawdown:
    rows: list = field(default_factory=list)  # (event, payer, reservation)
    touched: dict = field(default_factory=dict)  # budget id -> Budget with its new totals
    settled: list = field(default_factory=list)
    freed: list = field(default_factory=list)  # FreedHold: forfeited from a closed year
    daily: dict[tuple[int, date], DaySpend] = field(default_factory=lambda: defaultdict(DaySpend))


def _draw_down(
    events: list[ParsedEvent],
    *,
    budgets: dict,
    budgets_by_id: dict,
    memberships: set,
    reservations: dict,
    fiscal_years: dict[int, int],
    local_days: dict[int, date],
    source: str,
    result: IngestResult,
    now: datetime,
    closed: dict[int, int] | None = None,
) -> _Drawdown:
    """Decide who pays each event, in the order the calls happened, against `budgets` (whose
    totals this moves). `closed`: the reservations' budgets whose year a rollover has closed
    (budget id -> run id); a hold settled on one of them forfeits what it gives back."""
    out = _Drawdown()
    closed = closed or {}
    for event in sorted(events, key=lambda e: (e.occurred_at, e.index)):
        fiscal_year = fiscal_years[event.index]
        reservation = reservations.get(event.reservation_id) if event.reservation_id else None
        if event.reservation_id and not _reservation_usable(reservation, event, source, result):
            continue
        payer = held_on = None
        freed = 0  # what a settled hold gives back (an expired one gave it back when it expired)
        if reservation is not None:
            held_on = budgets_by_id[reservation.budget_id]
            if reservation.state == ReservationState.HELD:
                held_on.reserved_micros -= reservation.amount_micros
                out.touched[held_on.id] = held_on
                freed = reservation.amount_micros
            reservation.state = ReservationState.SETTLED
            reservation.closed_at = now
            out.settled.append(reservation)
            # The actual cost replaces the hold on the same budget, unless the call landed in
            # another fiscal year (then the hold is just released and the usage drawn as usual).
            if held_on.fiscal_year == fiscal_year:
                payer = held_on
                freed -= event.cost_micros
        if payer is None:
            employee = event.employee
            project_budget = None
            if event.project and (event.project.pk, employee.pk) in memberships:
                project_budget = budgets.get(("project", event.project.pk, fiscal_year))
            pool = None
            team = employee.team
            if team is not None and team.has_pool and team.pool_overflow:
                pool = budgets.get(("team", team.pk, fiscal_year))
            order = drawdown_order(
                project_budget=project_budget,
                personal=budgets[("employee", employee.pk, fiscal_year)],
                pool=pool,
            )
            # Usage already happened: when every budget is full it is still recorded, on the
            # first in order (authorize is where limits are enforced).
            payer = drawdown_payer(order, event.cost_micros) or order[0]
        payer.spent_micros += event.cost_micros
        out.touched[payer.id] = payer
        if freed > 0 and held_on.id in closed:
            # Its year is closed: what the hold gave back is forfeited, as far as the budget
            # has unused money at this moment (after this event's own cost), in call order, so
            # the outcome does not depend on how a gateway split its batches.
            remaining = held_on.allocated_micros - held_on.spent_micros - held_on.reserved_micros
            forfeited = freed_hold_forfeitures(remaining_micros=remaining, freed_micros=[freed])
            if forfeited[0]:
                held_on.allocated_micros -= forfeited[0]
                out.freed.append(FreedHold(reservation.pk, held_on.id, forfeited[0]))
        daily = out.daily[(payer.id, local_days[event.index])]
        daily.spent_micros += event.cost_micros
        daily.events += 1
        out.rows.append((event, payer, reservation))
    return out


def _write(
    events: list[ParsedEvent],
    source: str,
    result: IngestResult,
    now: datetime,
    *,
    write_first: bool = False,
) -> list[int]:
    """Inside one transaction: decide who pays, then write everything in bulk.

    With `write_first` (PostgreSQL, no reservations in the batch) the ledger entries and events
    are written before the budgets are locked, with the payers the unlocked totals give; under
    the locks the drawdown is decided again, and if any payer moved (a budget filled up in
    between) `_PayersMoved` is raised and the caller starts over without write_first. So
    the locks are held only for the decision and the short UPDATEs, not for the COPY, and the
    stored rows are always those of the decision made under the locks."""
    existing = _existing_hashes(source, [e.event_id for e in events])
    fresh = []
    for event in events:
        if event.event_id in existing:
            stored = existing[event.event_id]
            if stored == event.payload_hash or (
                event.cost_text is not None and stored == _rounded_cost_hash(event)
            ):
                result.duplicates += 1
            else:
                result.reject(event.index, event.event_id, _conflict_error())
        else:
            fresh.append(event)
    if not fresh:
        return []

    reservations = {}
    wanted = {e.reservation_id for e in fresh if e.reservation_id}
    if wanted:
        write_first = False
        reservations = {
            r.pk: r
            # Only the reservation rows: their budgets are locked with the others, in id order
            # (joining them here locked them in reservation order, a deadlock with a batch
            # locking the same budgets in id order).
            for r in Reservation.objects.select_for_update(of=("self",))
            .filter(pk__in=wanted)
            .order_by("pk")
        }
    start_month = company_settings().fiscal_year_start_month
    zone = timezone.get_current_timezone()  # once: each lookup goes through a context local
    local_days = {e.index: e.occurred_at.astimezone(zone).date() for e in fresh}
    fiscal_years = {index: _fiscal_year(day, start_month) for index, day in local_days.items()}
    _ensure_personal_budgets(fresh, fiscal_years)
    memberships = set()
    project_ids = {e.project.pk for e in fresh if e.project}
    if project_ids:
        memberships = set(
            Project.members.through.objects.filter(
                project_id__in=project_ids,
                employee_id__in={e.employee.pk for e in fresh},
            ).values_list("project_id", "employee_id")
        )
    extra_ids = {r.budget_id for r in reservations.values()}
    context = {
        "local_days": local_days,
        "memberships": memberships,
        "reservations": reservations,
        "fiscal_years": fiscal_years,
        "source": source,
        "now": now,
    }

    written = None
    if write_first:
        guess_budgets, guess_by_id = _budgets_for(fresh, fiscal_years, extra_ids, lock=False)
        guess = _draw_down(
            fresh,
            budgets=guess_budgets,
            budgets_by_id=guess_by_id,
            result=IngestResult(),
            **context,
        )
        _insert_usage(guess.rows, source, now)
        written = {event.index: payer.id for event, payer, _ in guess.rows}

    budgets, budgets_by_id = _budgets_for(fresh, fiscal_years, extra_ids, lock=True)
    # Under the budget locks, so a rollover chunk closed these years before, or closes them
    # after and counts what the holds give back as unused. Only batches that settle holds ask.
    closed = closed_by_rollover(budget_ids=extra_ids) if extra_ids else {}
    decided = _draw_down(
        fresh,
        budgets=budgets,
        budgets_by_id=budgets_by_id,
        result=result,
        closed=closed,
        **context,
    )
    if not decided.rows:
        return []
    if written is None:
        _insert_usage(decided.rows, source, now)
    elif written != {event.index: payer.id for event, payer, _ in decided.rows}:
        raise _PayersMoved
    totals_set(list(decided.touched.values()))
    if decided.settled:
        Reservation.objects.bulk_update(decided.settled, ["state", "closed_at"])
    if decided.freed:
        hold_forfeitures_post(forfeits=decided.freed, closed=closed, now=now)
    daily_spend_add(decided.daily)
    result.accepted += len(decided.rows)
    return list(decided.touched)


def _existing_hashes(source: str, event_ids: list[str]) -> dict[str, str]:
    """Payload hashes of the ids already stored for this source.

    On PostgreSQL one probe of the (source, event_id) index per id, as a scalar subquery so
    the plan cannot change: with `event_id IN (...)` or `= ANY(...)` the planner, while its
    statistics still say a new source has no rows, scans every row of the source and filters
    the ids (measured 140 ms a batch at 430,000 rows of one source, against 3 ms)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT k.id, (SELECT u.payload_hash FROM {UsageEvent._meta.db_table} u "  # nosec B608  # noqa: S608
                "WHERE u.source = %s AND u.event_id = k.id) FROM unnest(%s::text[]) AS k(id)",
                [source, text_array(event_ids)],
            )
            return {event_id: found for event_id, found in cursor.fetchall() if found}
    return dict(
        UsageEvent.objects.filter(source=source, event_id__in=event_ids).values_list(
            "event_id", "payload_hash"
        )
    )


EVENT_COLUMNS = [
    "source",
    "event_id",
    "employee_id",
    "project_id",
    "model_name",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cost_micros",
    "occurred_at",
    "received_at",
    "category",
    "metadata",
    "payload_hash",
    "reservation_id",
    "price_id",
    "budget_id",
    "ledger_entry_id",
]


def _insert_usage(rows: list, source: str, now: datetime) -> None:
    """The usage ledger entries and the events, in bulk, each event pointing at its entry.
    Unique violations still raise IntegrityError (the caller retries)."""
    entry_ids = entries_copy(
        [
            EntryRow(
                payer.id,
                EntryKind.USAGE,
                event.cost_micros,
                f"{event.model_name} {source}:{event.event_id}"[:500],
                now,
            )
            for event, payer, _ in rows
        ],
        with_ids=True,
    )
    postgres = connection.vendor == "postgresql"  # once: `connection` is a context-local proxy
    copy_rows(
        UsageEvent,
        EVENT_COLUMNS,
        (
            _event_row(event, payer, reservation, source, now, entry_id, postgres)
            for entry_id, (event, payer, reservation) in zip(entry_ids, rows, strict=True)
        ),
    )


def _event_row(
    event, payer, reservation, source: str, now: datetime, entry_id: int, postgres: bool
) -> tuple:
    return (
        source,
        event.event_id,
        event.employee.pk,
        event.project.pk if event.project else None,
        event.model_name,
        event.input_tokens,
        event.output_tokens,
        event.cached_input_tokens,
        event.cost_micros,
        event.occurred_at,
        now,
        event.category,
        (json.dumps(event.metadata) if event.metadata else "{}") if postgres else event.metadata,
        event.payload_hash,
        reservation.pk if reservation else None,
        event.price.pk if event.price else None,
        payer.id,
        entry_id,
    )


def _reservation_usable(reservation, event: ParsedEvent, source: str, result: IngestResult) -> bool:
    if reservation is None or (reservation.source and reservation.source != source):
        error = "No such reservation for this API key."
    elif reservation.employee_id != event.employee.pk:
        error = "This reservation was made for another employee."
    elif reservation.state in (ReservationState.SETTLED, ReservationState.RELEASED):
        error = f"This reservation is already {reservation.state}."
    else:
        return True
    result.reject(event.index, event.event_id, {"reservation": [error]})
    return False


def _is_deadlock(error: Exception) -> bool:
    return getattr(error.__cause__, "sqlstate", None) == "40P01"


def _conflict_error() -> dict[str, list[str]]:
    return {
        "id": [
            "An event with this id was already recorded with different contents; "
            "send a new id for a new event."
        ]
    }


def usage_ingest(
    *, events: Any, source: str = DEFAULT_SOURCE, now: datetime | None = None
) -> IngestResult:
    """Record a batch of usage events (the API, import_usage and usage_post all come here)."""
    if not isinstance(events, list):
        raise AllotError('"events" must be a list of event objects.', field="events")
    if len(events) > MAX_EVENTS_PER_BATCH:
        raise AllotError(
            f"{len(events):,} events in one request; send at most {MAX_EVENTS_PER_BATCH:,}.",
            field="events",
            code="too_many_events",
        )
    now = now or timezone.now()
    result = IngestResult()
    parsed: list[ParsedEvent] = []
    for index, raw in enumerate(events):
        outcome = usage_event_parse(raw, index=index, now=now)
        if isinstance(outcome, dict):
            result.reject(index, _rejected_id(raw), outcome)
        else:
            parsed.append(outcome)
    return ingest_parsed(parsed, source=source, now=now, result=result)


def _rejected_id(raw: Any) -> str | None:
    """The id a refused event is answered with: as it would have been stored, or None when the
    id itself is wrong (echoing it as sent could put a lone surrogate in the answer)."""
    if not isinstance(raw, dict):
        return None
    return _text(raw, "id", {}, max_length=ID_MAX_LENGTH)


def _dedupe_within_batch(events: list[ParsedEvent], result: IngestResult) -> list[ParsedEvent]:
    first: dict[str, ParsedEvent] = {}
    kept = []
    for event in events:
        seen = first.get(event.event_id)
        if seen is None:
            first[event.event_id] = event
            kept.append(event)
        elif seen.payload_hash == event.payload_hash:
            result.duplicates += 1
        else:
            result.reject(
                event.index,
                event.event_id,
                {"id": ["This id appears earlier in the batch with different contents."]},
            )
    return kept


# Tries of a batch that met a concurrent one (an id stored between our check and our insert,
# or a deadlock): each try sees more of the others committed, so several batches sharing ids
# settle in a few; the count only bounds a pathological case.
INGEST_ATTEMPTS = 5


def ingest_parsed(
    parsed: list[ParsedEvent], *, source: str, now: datetime, result: IngestResult
) -> IngestResult:
    from budgets.tasks import alerts_check  # tasks call services; this is the one way back

    parsed = _dedupe_within_batch(parsed, result)
    parsed = _resolve_employees(parsed, result)
    parsed = _resolve_projects(parsed, result)
    if not parsed:
        result.rejected.sort(key=lambda r: r["index"])
        return result
    touched: list[int] = []
    write_first = WRITE_BEFORE_LOCKING and connection.vendor == "postgresql"
    conflicts = 0
    while True:
        attempt_result = IngestResult()
        try:
            with transaction.atomic():
                # Prices are read under a share lock, inside the transaction, so a price
                # correction (which takes the row first, then budgets, as we do) either sees
                # these events or waits for them: never a batch priced at a stale price.
                priced = _price(parsed, attempt_result)
                if priced:
                    touched = _write(priced, source, attempt_result, now, write_first=write_first)
        except _PayersMoved:
            # A budget filled up between the unlocked guess and the locks: nothing of ours
            # was kept; decide again with the locks taken first.
            write_first = False
            continue
        except (IntegrityError, OperationalError) as error:
            # A concurrent batch stored one of these ids between our check and our insert
            # (or, rarely, the two waited on each other and the database broke the deadlock);
            # nothing of ours was written. Once more sees it as a duplicate or a conflict.
            retryable = isinstance(error, IntegrityError) or _is_deadlock(error)
            conflicts += 1
            if not retryable or conflicts == INGEST_ATTEMPTS:
                raise
            continue
        break
    result.accepted += attempt_result.accepted
    result.duplicates += attempt_result.duplicates
    result.rejected.extend(attempt_result.rejected)
    result.rejected.sort(key=lambda r: r["index"])
    if touched:
        # robust: a broker outage must not turn a committed batch into a 500; the daily scan
        # checks every budget anyway.
        transaction.on_commit(lambda: alerts_check.delay(budget_ids=touched), robust=True)
    return result


def usage_post(
    *,
    employee: Employee,
    event_id: str,
    model_name: str,
    occurred_at: datetime,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    cost_micros: Micros | None = None,
    category: str = UsageCategory.OTHER,
    project: Project | None = None,
    metadata: dict | None = None,
    source: str = "default",
) -> tuple[UsageEvent, bool]:
    """Record one usage event through the batch path (a batch of one).

    Returns the stored event and whether this call stored it; a replay returns the first one.
    A rejected event raises AllotError naming the field.
    """
    if timezone.is_naive(occurred_at):
        raise AllotError("occurred_at needs a time zone.", field="occurred_at")
    errors: dict[str, list[str]] = {}
    for name, value in (
        ("input_tokens", input_tokens),
        ("output_tokens", output_tokens),
        ("cached_input_tokens", cached_input_tokens),
    ):
        _tokens({name: value}, name, errors, required=True)
    if cost_micros is not None and not 0 <= cost_micros <= MAX_COST_MICROS_PER_EVENT:
        errors["cost_usd"] = ["Must be between zero and $100,000."]
    if category not in UsageCategory.values:
        errors["category"] = [f"{category!r} is not a usage category."]
    problem = metadata_problem(metadata or {})
    if problem:
        errors["metadata"] = [problem]
    if errors:
        field, messages = next(iter(errors.items()))
        raise AllotError(messages[0], field=field)
    event = ParsedEvent(
        index=0,
        event_id=event_id,
        employee_key=employee.user.email,
        model_name=model_name,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached_input_tokens,
        cost_micros=cost_micros,
        occurred_at=occurred_at,
        category=category,
        project_code=project.code if project else None,
        metadata=metadata or {},
        reservation_id=None,
        employee=employee,
        project=project,
        cost_given=cost_micros is not None,
    )
    event.payload_hash = payload_hash(event)
    result = ingest_parsed([event], source=source, now=timezone.now(), result=IngestResult())
    if result.rejected:
        field, messages = next(iter(result.rejected[0]["errors"].items()))
        raise AllotError(messages[0], field=field)
    stored = UsageEvent.objects.get(source=source, event_id=event_id)
    return stored, bool(result.accepted)
