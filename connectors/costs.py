"""Reconciliation: the providers' cost reports (what the invoice will say), per provider and UTC
day, against everything Allot recorded for that provider that day; finance is told once of a day
whose gap is over the connection's threshold (default 1 %).

What Allot recorded is two parts, shown apart on finance's page and in the quarterly report:
- from the connectors: what the provider's usage buckets of that day posted (`charged_micros`:
  the first event and every restatement's difference), the restatements' part shown apart
  (`restated_micros`, the day's `BucketPosting` amounts: up as a further event, down as a
  usage correction);
- from the gateway and the API (and `import_usage`): the cost of every other usage event of
  that UTC day whose model is the provider's (`provider_of_model`: claude-* is Anthropic's,
  gpt-*, o1/o3/o4-*, chatgpt-* and the like OpenAI's). The connectors' own events (source
  `connector:<provider>`) are left out there: the buckets already count them.
Held buckets (the unassigned queue) are shown beside, not in the recorded total.

The cost reports' shapes (addresses in tests/connectors/test_reconciliation.py):
- Anthropic, `GET /v1/organizations/cost_report`: query starting_at, bucket_width (1d), limit
  (at most 31), page; {data: [{starting_at, ending_at, results: [{currency, amount,
  workspace_id, description, cost_type, ...}]}], has_more, next_page}. `amount` is a decimal
  string in the currency's lowest unit: cents ("123.45" is $1.2345).
- OpenAI, `GET /v1/organization/costs`: query start_time, bucket_width (1d), limit, page;
  {object: "page", data: [{object: "bucket", start_time, end_time, results: [{object:
  "organization.costs.result", amount: {value, currency}, line_item, project_id}]}], has_more,
  next_page}. `value` is a JSON number of dollars, `currency` lower-case ("usd")."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.urls import reverse
from django.utils import timezone

from budgets.models import UsageEvent
from common.money import dollars_to_micros, format_usd, percent
from connectors.buckets import PageOutcome, source_of
from connectors.client import ProviderError
from connectors.models import (
    BucketPosting,
    BucketState,
    Provider,
    ProviderConnection,
    ProviderCostDay,
    Report,
    UsageBucket,
)
from connectors.reports import ReportSpec, anthropic_headers, moment_of, openai_headers
from notifications.kinds import Kind
from notifications.services import notify
from people.roles import FINANCE


def _anthropic_cost_params(since: datetime) -> list[tuple[str, str]]:
    return [
        ("starting_at", since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("bucket_width", "1d"),
        ("limit", "31"),
    ]


def _openai_cost_params(since: datetime) -> list[tuple[str, str]]:
    return [("start_time", str(int(since.timestamp()))), ("bucket_width", "1d"), ("limit", "31")]


def _amount(result: dict[str, Any], provider: str) -> int:
    """One cost result in micro-dollars, from the provider's digits (never a binary float)."""
    try:
        if provider == Provider.ANTHROPIC:
            if (result.get("currency") or "USD").upper() != "USD":
                raise ProviderError(f"A cost in {result.get('currency')}: only USD is known.")
            return dollars_to_micros(Decimal(str(result.get("amount") or "0")) / 100, exact=False)
        amount = result.get("amount") or {}
        if (amount.get("currency") or "usd").lower() != "usd":
            raise ProviderError(f"A cost in {amount.get('currency')}: only USD is known.")
        return dollars_to_micros(Decimal(str(amount.get("value") or 0)), exact=False)
    except (InvalidOperation, ValueError, AttributeError) as error:
        raise ProviderError(f"The cost report's amount is not an amount: {result!r}.") from error


def cost_days(body: dict[str, Any], provider: str) -> dict[date, int]:
    """The page's cost per UTC day (every result of a day's bucket added up)."""
    days: dict[date, int] = {}
    for bucket in body.get("data") or []:
        start = bucket.get("starting_at") if provider == Provider.ANTHROPIC else None
        day = moment_of(start or bucket.get("start_time")).date()
        total = sum(_amount(result, provider) for result in bucket.get("results") or [])
        days[day] = days.get(day, 0) + total
    return days


COST_REPORTS: dict[str, ReportSpec] = {
    Provider.ANTHROPIC: ReportSpec(
        provider=Provider.ANTHROPIC,
        report=Report.ANTHROPIC_COSTS,
        path="/v1/organizations/cost_report",
        identity_order=(),
        params=_anthropic_cost_params,
        rows=lambda body: [],
        headers=anthropic_headers,
    ),
    Provider.OPENAI: ReportSpec(
        provider=Provider.OPENAI,
        report=Report.OPENAI_COSTS,
        path="/v1/organization/costs",
        identity_order=(),
        params=_openai_cost_params,
        rows=lambda body: [],
        headers=openai_headers,
    ),
}


def costs_apply(connection: ProviderConnection, body: dict[str, Any]) -> PageOutcome:
    """Store a page of the cost report, one row per day (a restated day takes its new total)."""
    days = cost_days(body, connection.provider)
    outcome = PageOutcome(buckets=len(days))
    have = {
        row.day: row for row in ProviderCostDay.objects.filter(connection=connection, day__in=days)
    }
    for day, micros in days.items():
        row = have.get(day)
        if row is None:
            ProviderCostDay.objects.create(
                connection=connection, day=day, provider_cost_micros=micros
            )
            outcome.new += 1
        elif row.provider_cost_micros == micros:
            outcome.unchanged += 1
        else:
            row.provider_cost_micros, row.fetched_at = micros, timezone.now()
            row.save(update_fields=["provider_cost_micros", "fetched_at"])
            outcome.restated += 1
    return outcome


# A model's provider, by its name's prefix (lower case): what the gateway's and the API's usage
# events are counted under. A model matching none is nobody's (it shows in no reconciliation).
MODEL_PREFIXES: dict[str, tuple[str, ...]] = {
    Provider.ANTHROPIC: ("claude",),
    Provider.OPENAI: (
        "gpt-",
        "chatgpt-",
        "o1",
        "o3",
        "o4",
        "codex-",
        "computer-use-",
        "text-embedding-",
        "omni-moderation-",
        "dall-e-",
        "whisper-",
        "tts-",
        "davinci-",
        "babbage-",
    ),
}


def provider_of_model(model_name: str) -> str | None:
    """The provider whose model this is, by MODEL_PREFIXES; None for a model of neither."""
    name = model_name.lower()
    for provider, prefixes in MODEL_PREFIXES.items():
        if name.startswith(prefixes):
            return provider
    return None


def gateway_sums(days: list[ProviderCostDay]) -> dict[tuple[str, date], int]:
    """The cost of the usage events that did not come from a connector, per (provider, UTC
    day), over the span of `days`: one grouped query (per day and model), split by provider
    here. Only the (provider, day) pairs of `days` are answered."""
    if not days:
        return {}
    first, last = min(d.day for d in days), max(d.day for d in days)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(last, datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
    models = Q()
    for prefixes in MODEL_PREFIXES.values():
        for prefix in prefixes:
            models |= Q(model_name__istartswith=prefix)
    rows = (
        UsageEvent.objects.filter(models, occurred_at__gte=start, occurred_at__lt=end)
        .exclude(source__in=[source_of(p) for p in Provider.values])
        .annotate(utc_day=TruncDate("occurred_at", tzinfo=UTC))
        .values("utc_day", "model_name")
        .annotate(total=Sum("cost_micros"))
        .order_by()
    )
    wanted = {(d.connection.provider, d.day) for d in days}
    sums: dict[tuple[str, date], int] = {}
    for row in rows:
        key = (provider_of_model(row["model_name"]), row["utc_day"])
        if key in wanted:
            sums[key] = sums.get(key, 0) + (row["total"] or 0)
    return sums


@dataclass(frozen=True)
class ReconciledDay:
    day_row: ProviderCostDay
    provider_micros: int
    connector_micros: int  # posted by the provider's usage buckets of the day
    gateway_micros: int  # the day's other usage events of the provider's models
    held_micros: int
    restated_micros: int = 0  # of connector_micros: what the day's restatements posted

    @property
    def recorded_micros(self) -> int:
        """Everything Allot recorded for the provider that day: connectors and gateway/API."""
        return self.connector_micros + self.gateway_micros

    @property
    def difference_micros(self) -> int:
        """Recorded less the provider's cost: negative when Allot recorded less."""
        return self.recorded_micros - self.provider_micros

    @property
    def difference_percent(self) -> Decimal | None:
        return percent(self.difference_micros, self.provider_micros)

    @property
    def over_threshold(self) -> bool:
        threshold = self.day_row.connection.reconcile_threshold_percent
        share = self.difference_percent
        if share is None:
            return self.recorded_micros != 0
        return abs(share) > threshold


def _bucket_sum(state: str, column: str) -> Subquery:
    buckets = (
        UsageBucket.objects.filter(connection=OuterRef("connection"), state=state)
        .annotate(utc_day=TruncDate("starts_at", tzinfo=UTC))
        .filter(utc_day=OuterRef("day"))
        .values("connection")
        .annotate(total=Sum(column))
        .values("total")
    )
    return Coalesce(Subquery(buckets, output_field=IntegerField()), Value(0))


def _restated_sum() -> Subquery:
    """What the restatements (BucketPosting, version 2 on) of the day's posted buckets posted:
    part of the buckets' charged_micros, shown apart so finance sees a correction."""
    postings = (
        BucketPosting.objects.filter(
            bucket__connection=OuterRef("connection"), bucket__state=BucketState.POSTED
        )
        .annotate(utc_day=TruncDate("bucket__starts_at", tzinfo=UTC))
        .filter(utc_day=OuterRef("day"))
        .values("bucket__connection")
        .annotate(total=Sum("amount_micros"))
        .values("total")
    )
    return Coalesce(Subquery(postings, output_field=IntegerField()), Value(0))


def reconciled(days: QuerySet) -> QuerySet:
    """Cost days annotated with `recorded` (posted buckets), `restated` (the part of it the
    restatements posted) and `held` (the unassigned queue) for the same provider and UTC day:
    one query. The gateway's part is `gateway_sums`."""
    return days.select_related("connection").annotate(
        recorded=_bucket_sum(BucketState.POSTED, "charged_micros"),
        restated=_restated_sum(),
        held=_bucket_sum(BucketState.HELD, "estimated_micros"),
    )


def reconciliation(days: QuerySet | None = None) -> list[ReconciledDay]:
    """Each cost day, reconciled (see ReconciledDay), newest first."""
    rows = reconciled(days if days is not None else ProviderCostDay.objects.all())
    return reconciled_days(list(rows.order_by("-day", "connection")))


def reconciled_days(rows: list[ProviderCostDay]) -> list[ReconciledDay]:
    """Rows of `reconciled()` with the gateway's part added (one more query for all of them)."""
    gateway = gateway_sums(rows)
    return [
        ReconciledDay(
            row,
            row.provider_cost_micros,
            row.recorded or 0,
            gateway.get((row.connection.provider, row.day), 0),
            row.held or 0,
            row.restated or 0,
        )
        for row in rows
    ]


def reconciliation_alert(connection: ProviderConnection) -> int:
    """Tell finance, once per day, of each complete day over the threshold. Returns how many."""
    today = timezone.now().astimezone(UTC).date()
    pending = ProviderCostDay.objects.filter(
        connection=connection, alerted_at__isnull=True, day__lt=today
    )
    finance = list(get_user_model().objects.filter(groups__name=FINANCE, is_active=True).distinct())
    told = 0
    for reconciled in reconciliation(pending):
        if not reconciled.over_threshold:
            continue
        share = reconciled.difference_percent
        notify(
            finance,
            f"{connection}: on {reconciled.day_row.day:%Y-%m-%d} Allot recorded "
            f"{format_usd(reconciled.recorded_micros)} (connectors "
            f"{format_usd(reconciled.connector_micros)}, gateway/API "
            f"{format_usd(reconciled.gateway_micros)}) against the provider's "
            f"{format_usd(reconciled.provider_micros)} "
            f"({'no cost reported' if share is None else f'{share:+} %'}; the limit is "
            f"{connection.reconcile_threshold_percent} %).",
            kind=Kind.RECONCILIATION,
            subject=f"Allot: {connection} differs from recorded usage on "
            f"{reconciled.day_row.day:%Y-%m-%d}",
            link=reverse("admin:connectors_providercostday_change", args=[reconciled.day_row.pk]),
        )
        ProviderCostDay.objects.filter(pk=reconciled.day_row.pk).update(alerted_at=timezone.now())
        told += 1
    return told
