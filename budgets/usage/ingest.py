"""The way in for usage: a batch of gateway events (the API, import_usage) or one event from
code (usage_post), parsed, resolved, and written in one transaction, retried when it met a
concurrent batch."""

from dataclasses import replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from budgets.models import UsageCategory, UsageEvent
from budgets.usage.parse import (
    DEFAULT_SOURCE,
    EVENT_FIELD,
    MAX_COST_MICROS_PER_EVENT,
    MAX_EVENTS_PER_BATCH,
    IngestResult,
    ParsedEvent,
    metadata_problem,
    payload_hash,
    rejected_id,
    tokens_check,
    usage_event_parse,
)
from budgets.usage.resolve import resolve_employees, resolve_prices, resolve_projects
from budgets.usage.write import PayersMoved, batch_write
from common.db import waits_bounded
from common.errors import AllotError
from common.money import Micros
from outbox.services import Job, outbox_enqueue
from people.models import Employee, Project

# Tries of a batch that met a concurrent one (an id stored between our check and our insert,
# or a deadlock): each try sees more of the others committed, so several batches sharing ids
# settle in a few; the count only bounds a pathological case.
INGEST_ATTEMPTS = 5
# usage_post takes its counts as arguments: each one must be given, cached ones too
_POST_TOKEN_FIELDS = tuple(
    replace(EVENT_FIELD[name], required=True)
    for name in (
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
    )
)


def usage_ingest(
    *,
    events: Any,
    source: str = DEFAULT_SOURCE,
    now: datetime | None = None,
    write_first: bool | None = None,
    quiet_alerts: bool = False,
) -> IngestResult:
    """Record a batch of usage events (the API, import_usage and usage_post all come here).
    `write_first`, `quiet_alerts`: see ingest_parsed."""
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
            result.reject(index, rejected_id(raw), outcome)
        else:
            parsed.append(outcome)
    return ingest_parsed(
        parsed,
        source=source,
        now=now,
        result=result,
        write_first=write_first,
        quiet_alerts=quiet_alerts,
    )


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


def _is_deadlock(error: Exception) -> bool:
    return getattr(error.__cause__, "sqlstate", None) == "40P01"


def ingest_parsed(
    parsed: list[ParsedEvent],
    *,
    source: str,
    now: datetime,
    result: IngestResult,
    write_first: bool | None = None,
    quiet_alerts: bool = False,
) -> IngestResult:
    """Resolve and write parsed events, adding the outcome to `result`.

    `quiet_alerts`: a back-fill of past usage (import_usage); the thresholds it passes are
    recorded without a message each (budgets.alerts).

    `write_first`: COPY the batch's rows before taking the budget locks, then decide again
    under them (budgets.usage.write). None means on PostgreSQL only; either way the stored
    rows are the same (tests/budgets/test_ingest_paths.py holds the two paths to that)."""
    parsed = _dedupe_within_batch(parsed, result)
    parsed = resolve_employees(parsed, result)
    parsed = resolve_projects(parsed, result)
    if not parsed:
        result.rejected.sort(key=lambda r: r["index"])
        return result
    if write_first is None:
        write_first = connection.vendor == "postgresql"
    conflicts = 0
    while True:
        attempt_result = IngestResult()
        try:
            with (
                transaction.atomic(),
                # A budget row another transaction holds is waited for this long, then the
                # batch is a 503 "busy, retry" (nothing of it written).
                waits_bounded(
                    lock_ms=settings.ALLOT_USAGE_LOCK_TIMEOUT_MS,
                    statement_ms=settings.ALLOT_USAGE_STATEMENT_TIMEOUT_MS,
                ),
            ):
                # Prices are read under a share lock, inside the transaction, so a price
                # correction (which takes the row first, then budgets, as we do) either sees
                # these events or waits for them: never a batch priced at a stale price.
                priced = resolve_prices(parsed, attempt_result)
                if priced:
                    touched = batch_write(
                        priced, source, attempt_result, now, write_first=write_first
                    )
                    _alerts_queue(touched, quiet=quiet_alerts)
        except PayersMoved:
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
    return result


def _alerts_queue(budget_ids: list[int], *, quiet: bool = False) -> None:
    """In the batch's transaction: the alert check of each budget it touched, sent by the outbox
    relay once the batch committed. One check waits per budget however many batches touch it.
    `quiet` (a back-fill): thresholds passed are recorded without a message; such a check never
    stands in for a normal one, nor a normal one for it."""
    extra, key = (
        ({"quiet": True}, "budgets.alerts_check:quiet") if quiet else ({}, "budgets.alerts_check")
    )
    outbox_enqueue(
        Job(
            "budgets.alerts_check",
            kwargs={"budget_ids": [budget_id], **extra},
            coalesce_key=f"{key}:{budget_id}",
        )
        for budget_id in budget_ids
    )


def usage_post(
    *,
    employee: Employee,
    event_id: str,
    model_name: str,
    occurred_at: datetime,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
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
    counts = (
        input_tokens,
        output_tokens,
        cached_input_tokens,
        cache_write_tokens,
        cache_write_1h_tokens,
    )
    for spec, value in zip(_POST_TOKEN_FIELDS, counts, strict=True):
        tokens_check({spec.name: value}, spec, errors)
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
        cache_write_tokens=cache_write_tokens,
        cache_write_1h_tokens=cache_write_1h_tokens,
    )
    event.payload_hash = payload_hash(event)
    result = ingest_parsed([event], source=source, now=timezone.now(), result=IngestResult())
    if result.rejected:
        field, messages = next(iter(result.rejected[0]["errors"].items()))
        raise AllotError(messages[0], field=field)
    stored = UsageEvent.objects.get(source=source, event_id=event_id)
    return stored, bool(result.accepted)
