"""A page of bucket rows applied, inside the caller's transaction.

- A new bucket is stored, then posted as one usage event for its employee through the same
  ingest and drawdown as the API (`budgets.usage.ingest_parsed`); or held, with its amount,
  when its identifier is not mapped (the unassigned queue).
- A bucket read again with the same numbers changes nothing.
- A restated bucket (new numbers) posts only the difference, as version n: a further usage
  event `<id>:v<n>` when it costs more, a usage correction (`budgets.services.usage_correct`)
  on the budget that paid when it costs less. Each is a `BucketPosting` linked to the bucket.
- Events are dated in the middle of their bucket (`occurred_at_of`).
- A held bucket that is restated is held with its new numbers; when it is posted, it posts
  them once.

Priced by the provider's cost where the report has it, else by ingest from Allot's price table
(the first posting) or, for a difference, by the same price in force when the bucket started,
so the postings of a bucket always add up to its cost at its latest numbers."""

import hashlib
import json
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection as database
from django.utils import timezone

from budgets.calculations import cost_at
from budgets.ledger import copy_rows
from budgets.models import TokenPrice, UsageCategory, UsageEvent
from budgets.services import usage_correct
from budgets.usage import IngestResult, ParsedEvent, ingest_parsed
from budgets.usage.parse import payload_hash
from connectors.identity import Mappings, mappings_load, owner_of, unmapped_reason
from connectors.models import (
    BucketPosting,
    BucketState,
    ProviderConnection,
    UsageBucket,
)
from connectors.reports import REPORTS, BucketRow, ReportSpec

EVENT_ID_LIMIT = 180  # the event id's 200 characters, less room for ":v<n>"
TOKENS = (
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
)
NUMBERS = (*TOKENS, "provider_cost_micros")
BATCH = 5_000  # ingest's largest batch


@dataclass
class PageOutcome:
    buckets: int = 0
    new: int = 0
    unchanged: int = 0
    restated: int = 0
    posted: int = 0
    held: int = 0
    corrections: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, other: "PageOutcome") -> None:
        for name in ("buckets", "new", "unchanged", "restated", "posted", "held", "corrections"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems.extend(other.problems)

    def line(self) -> str:
        return (
            f"{self.buckets} buckets: {self.new} new, {self.unchanged} unchanged, "
            f"{self.restated} restated, {self.posted} posted, {self.corrections} corrections, "
            f"{self.held} held"
        )


def source_of(provider: str) -> str:
    """The usage events' source: their ids are unique within it."""
    return f"connector:{provider}"


def event_id_of(bucket: UsageBucket, version: int = 1) -> str:
    """Deterministic per bucket and version: anthropic:messages:2026-05-04T00:00:00Z:<group>,
    and `...:v2` for the first restatement. A long group is shortened to its SHA-256."""
    group = bucket.group_key
    base = f"{bucket.connection.provider}:{bucket.report}:{bucket.starts_at:%Y-%m-%dT%H:%M:%SZ}:"
    if len(base) + len(group) > EVENT_ID_LIMIT:
        group = "sha256-" + hashlib.sha256(group.encode()).hexdigest()
    return base + group + (f":v{version}" if version > 1 else "")


def occurred_at_of(bucket: UsageBucket) -> datetime:
    """When a bucket's usage happened, for its events: the middle of the bucket (a daily UTC
    bucket then falls on its own date in the company's zone, within twelve hours of UTC), or
    now for a bucket still under way (usage is never dated in the future)."""
    return min(bucket.starts_at + (bucket.ends_at - bucket.starts_at) / 2, timezone.now())


def price_in_force(model_name: str, at: datetime) -> TokenPrice | None:
    """The price version ingest would use for a call at `at` (effective-dated)."""
    return (
        TokenPrice.objects.filter(model_name=model_name, effective_from__lte=at)
        .order_by("-effective_from")
        .first()
    )


class PriceBook:
    """The price versions of a page's models, read once: `at` answers as price_in_force."""

    def __init__(self, model_names: set[str]):
        self.versions: dict[str, list[TokenPrice]] = defaultdict(list)
        prices = TokenPrice.objects.filter(model_name__in=model_names).order_by("effective_from")
        for price in prices if model_names else []:
            self.versions[price.model_name].append(price)
        self.starts = {m: [p.effective_from for p in v] for m, v in self.versions.items()}

    def at(self, model_name: str, moment: datetime) -> TokenPrice | None:
        position = bisect_right(self.starts.get(model_name, []), moment)
        return self.versions[model_name][position - 1] if position else None


def cost_of(bucket: UsageBucket, prices: PriceBook | None = None) -> int | None:
    """What the bucket costs at its latest numbers: the provider's cost, else the price table's;
    None when neither knows."""
    if bucket.provider_cost_micros is not None:
        return bucket.provider_cost_micros
    moment = occurred_at_of(bucket)
    if prices is not None:
        price = prices.at(bucket.model_name, moment)
    else:
        price = price_in_force(bucket.model_name, moment)
    if price is None:
        return None
    return cost_at(price, **{name: getattr(bucket, name) for name in TOKENS})


CHANGED_FIELDS = [*NUMBERS, "requests", "identities", "ends_at"]
CHANGED_FIELDS += ["version", "estimated_micros", "updated_at"]
POSTED_FIELDS = ["state", "hold_reason", "employee", "project", "usage_event", "charged_micros"]


def rows_apply(
    connection: ProviderConnection,
    spec: ReportSpec,
    rows: list[BucketRow],
    mappings_cache: Mappings | None = None,
) -> PageOutcome:
    """Apply one page of a report (see the module's docstring), in a few set-based writes."""
    outcome = PageOutcome(buckets=len(rows))
    days = UsageBucket.objects.filter(
        connection=connection, report=spec.report, starts_at__in={r.starts_at for r in rows}
    )
    existing = {}
    if rows and days.exists():  # days read before: a first read of its days asks nothing more
        existing = {
            (b.starts_at, b.group_key): b
            # locked (PostgreSQL), in id order: HR mapping an identifier posts held buckets too
            for b in days.filter(group_key__in={r.group_key for r in rows})
            .select_related("connection", "usage_event", "employee__user")
            .select_for_update(of=("self",))
            .order_by("pk")
        }
    prices = PriceBook({r.model_name for r in rows})
    now = timezone.now()
    fresh: list[UsageBucket] = []
    changed: list[UsageBucket] = []
    to_post: list[UsageBucket] = []
    restated: list[UsageBucket] = []
    for row in rows:
        bucket = existing.get((row.starts_at, row.group_key))
        if bucket is None:
            bucket = NewBucket(connection, spec.report, _numbers(row))
            bucket.estimated_micros = cost_of(bucket, prices)
            fresh.append(bucket)
            continue
        if all(getattr(bucket, name) == getattr(row, name) for name in NUMBERS):
            outcome.unchanged += 1
            if bucket.state == BucketState.HELD or bucket.hold_reason:
                # held: try again (a price may have been added); posted: a difference waits
                (to_post if bucket.state == BucketState.HELD else restated).append(bucket)
            continue
        outcome.restated += 1
        for name, value in _numbers(row).items():
            setattr(bucket, name, value)
        bucket.version += 1
        bucket.estimated_micros = cost_of(bucket, prices)
        bucket.updated_at = now
        changed.append(bucket)
        (to_post if bucket.state == BucketState.HELD else restated).append(bucket)
    UsageBucket.objects.bulk_update(changed, CHANGED_FIELDS)
    outcome.new = len(fresh)  # stored by buckets_post, posted or held: one INSERT each
    to_post = fresh + to_post
    mappings = mappings_load(connection.provider, [b.identities for b in to_post], mappings_cache)
    outcome.add(buckets_post(to_post, spec, mappings))
    for bucket in restated:
        outcome.add(difference_post(bucket))
    return outcome


def _numbers(row: BucketRow) -> dict:
    return {
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "group_key": row.group_key,
        "identities": row.identities,
        "model_name": row.model_name,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "cached_input_tokens": row.cached_input_tokens,
        "cache_write_tokens": row.cache_write_tokens,
        "cache_write_1h_tokens": row.cache_write_1h_tokens,
        "requests": row.requests,
        "provider_cost_micros": row.provider_cost_micros,
    }


def _event(bucket: UsageBucket, event_id: str, counts: tuple[int, ...], cost: int | None):
    """The usage event of a bucket's posting; `counts` in the order of TOKENS."""
    employee, project = bucket.employee, bucket.project
    event = ParsedEvent(
        index=0,
        event_id=event_id,
        employee_key=employee.user.email,
        model_name=bucket.model_name,
        input_tokens=counts[0],
        output_tokens=counts[1],
        cached_input_tokens=counts[2],
        cost_micros=cost,
        occurred_at=occurred_at_of(bucket),
        category=UsageCategory.OTHER,
        project_code=project.code if project else None,
        metadata={"bucket": bucket.group_key, "report": bucket.report, "version": bucket.version},
        reservation_id=None,
        employee=employee,
        project=project,
        cost_given=cost is not None,
        cache_write_tokens=counts[3],
        cache_write_1h_tokens=counts[4],
    )
    event.payload_hash = payload_hash(event)
    return event


def buckets_post(buckets: list[UsageBucket], spec: ReportSpec, mappings: Mappings) -> PageOutcome:
    """Post each bucket's first usage event, or hold it (unmapped, or refused by ingest). New
    buckets (not stored yet) are stored once their outcome is known: one bulk INSERT."""
    outcome = PageOutcome()
    events: list[tuple[UsageBucket, ParsedEvent]] = []
    held: list[UsageBucket] = []
    for bucket in buckets:
        employee, project = owner_of(bucket.identities, spec.identity_order, mappings)
        if employee is None:
            held.append(_hold(bucket, unmapped_reason(bucket.identities)))
            continue
        bucket.employee, bucket.project = employee, project
        counts = tuple(getattr(bucket, name) for name in TOKENS)
        event = _event(bucket, event_id_of(bucket), counts, bucket.provider_cost_micros)
        event.index = len(events)
        events.append((bucket, event))
    posted: list[UsageBucket] = []
    if events:
        source = source_of(spec.provider)
        refused = {}
        for first in range(0, len(events), BATCH):
            result = ingest_parsed(
                [e for _, e in events[first : first + BATCH]],
                source=source,
                now=timezone.now(),
                result=IngestResult(),
            )
            refused.update((r["index"], r["errors"]) for r in result.rejected)
        # what ingest stored (or had already), as plain values: no model built per event
        stored = {
            row[0]: row
            for row in UsageEvent.objects.filter(
                source=source, event_id__in=[e.event_id for _, e in events]
            ).values_list("event_id", "pk", "cost_micros")
        }
        for bucket, event in events:
            usage = stored.get(event.event_id)
            if usage is None:
                errors = refused.get(event.index) or {"": ["Not recorded."]}
                held.append(_hold(bucket, "; ".join(m for ms in errors.values() for m in ms)))
                continue
            bucket.state, bucket.hold_reason = BucketState.POSTED, ""
            bucket.usage_event_id, bucket.charged_micros = usage[1], usage[2]
            posted.append(bucket)
    stored = [b for b in posted + held if b.pk is not None]
    UsageBucket.objects.bulk_update(stored, POSTED_FIELDS)
    buckets_store([b for b in posted + held if b.pk is None])
    outcome.posted, outcome.held = len(posted), len(held)
    return outcome


BUCKET_COLUMNS = (
    "connection_id",
    "report",
    "starts_at",
    "ends_at",
    "group_key",
    "identities",
    "model_name",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "requests",
    "provider_cost_micros",
    "estimated_micros",
    "charged_micros",
    "version",
    "state",
    "hold_reason",
    "employee_id",
    "project_id",
    "usage_event_id",
    "first_seen_at",
    "updated_at",
)


class NewBucket:
    """A bucket read for the first time, before it is stored: the attributes posting and
    storing read, without building a model instance per bucket (a page is thousands of them;
    at 100,000 buckets the instances took a sixth of the sync). `buckets_store` inserts it."""

    __slots__ = (*(c for c in BUCKET_COLUMNS if not c.endswith("_id")), "connection")
    __slots__ += ("employee", "project", "usage_event_id")
    pk = None

    def __init__(self, connection: ProviderConnection, report: str, numbers: dict):
        self.connection, self.report = connection, report
        for name, value in numbers.items():
            setattr(self, name, value)
        self.estimated_micros, self.charged_micros, self.version = None, 0, 1
        self.state, self.hold_reason = BucketState.HELD, ""
        self.employee = self.project = self.usage_event_id = None
        self.first_seen_at = self.updated_at = timezone.now()

    @property
    def connection_id(self) -> int:
        return self.connection.pk

    @property
    def employee_id(self) -> int | None:
        return self.employee.pk if self.employee is not None else None

    @property
    def project_id(self) -> int | None:
        return self.project.pk if self.project is not None else None

    def model(self) -> UsageBucket:
        """The model instance (bulk_create off PostgreSQL)."""
        return UsageBucket(**{c: getattr(self, c) for c in BUCKET_COLUMNS})


def buckets_store(buckets: list[UsageBucket | NewBucket]) -> None:
    """Insert new buckets: COPY on PostgreSQL (a year of daily buckets for 10,000 people is
    3.65 million rows; constraints are still checked), bulk_create elsewhere. Their ids are not
    read back: nothing in the page needs them."""
    if database.vendor != "postgresql":
        UsageBucket.objects.bulk_create([b.model() for b in buckets], batch_size=1_000)
        return
    now = timezone.now()
    for bucket in buckets:
        bucket.first_seen_at = bucket.updated_at = now
    copy_rows(
        UsageBucket,
        BUCKET_COLUMNS,
        (
            [
                json.dumps(getattr(b, c)) if c == "identities" else getattr(b, c)
                for c in BUCKET_COLUMNS
            ]
            for b in buckets
        ),
    )


def _hold(bucket: UsageBucket, reason: str) -> UsageBucket:
    bucket.state, bucket.hold_reason = BucketState.HELD, reason[:300]
    bucket.employee = bucket.project = None
    return bucket


def difference_post(bucket: UsageBucket) -> PageOutcome:
    """Post what a posted bucket's latest numbers cost beyond (or short of) what it posted."""
    outcome = PageOutcome()
    target = cost_of(bucket)
    if target is None:
        bucket.hold_reason = f"No price is known for {bucket.model_name}: the change waits."
        bucket.save()
        outcome.problems.append(bucket.hold_reason)
        return outcome
    posted = list(bucket.postings.all())
    first = bucket.usage_event
    counts = tuple(
        getattr(bucket, name) - getattr(first, name) - sum(getattr(p, name) for p in posted)
        for name in TOKENS
    )
    delta = target - charged_of(bucket, posted)
    version = bucket.version
    if BucketPosting.objects.filter(bucket=bucket, version=version).exists():
        return outcome  # this version's difference is posted already
    posting = BucketPosting(bucket=bucket, version=version, amount_micros=delta)
    for name, count in zip(TOKENS, counts, strict=True):
        setattr(posting, name, count)
    if delta > 0:
        event = _event(
            bucket, event_id_of(bucket, version), tuple(max(c, 0) for c in counts), delta
        )
        source = source_of(bucket.connection.provider)
        result = ingest_parsed([event], source=source, now=timezone.now(), result=IngestResult())
        posting.usage_event = UsageEvent.objects.filter(
            source=source, event_id=event.event_id
        ).first()
        if posting.usage_event is None:
            errors = result.rejected[0]["errors"] if result.rejected else {}
            bucket.hold_reason = "; ".join(m for ms in errors.values() for m in ms)[:300]
            bucket.save()
            outcome.problems.append(bucket.hold_reason)
            return outcome
    elif delta < 0:
        posting.ledger_entry, _ = usage_correct(
            event=bucket.usage_event,
            amount_micros=delta,
            memo=f"{bucket.connection} restated {bucket} (version {version})",
            idempotency_key=event_id_of(bucket, version),
        )
    posting.save()
    bucket.charged_micros, bucket.hold_reason = target, ""
    bucket.save()
    outcome.corrections += 1 if delta else 0
    return outcome


def charged_of(bucket: UsageBucket, postings: list[BucketPosting]) -> int:
    """What the bucket's postings cost now. The first event, when the price table priced it, is
    counted at its price's current rates: a price correction (budgets.pricing) reprices it with
    its own entry, so the bucket's difference must not post that change a second time."""
    first = bucket.usage_event
    if first.price_id is not None:
        first_cost = cost_at(first.price, **{name: getattr(first, name) for name in TOKENS})
    else:
        first_cost = first.cost_micros
    return first_cost + sum(p.amount_micros for p in postings)


def held_post(buckets: list[UsageBucket]) -> int:
    """Post held buckets (after a mapping, or a price, was added). Returns how many posted."""
    posted = 0
    by_report: dict[tuple[str, str], list[UsageBucket]] = {}
    for bucket in buckets:
        by_report.setdefault((bucket.connection.provider, bucket.report), []).append(bucket)
    for (provider, report), group in by_report.items():
        spec = next(s for s in REPORTS[provider] if s.report == report)
        mappings = mappings_load(provider, [b.identities for b in group])
        posted += buckets_post(group, spec, mappings).posted
    return posted
