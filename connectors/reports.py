"""Each usage report's request and response shape, turned into provider-neutral bucket rows.

The shapes follow the providers' published references (the test module's docstring gives the
addresses):
- Anthropic, `GET /v1/organizations/usage_report/messages`: query `starting_at` (RFC 3339),
  `bucket_width`, `group_by[]`, `page`; headers `x-api-key` and `anthropic-version`. The body
  is {data: [{starting_at, ending_at, results: [{api_key_id, workspace_id, model,
  uncached_input_tokens, cache_read_input_tokens, cache_creation: {ephemeral_1h_input_tokens,
  ephemeral_5m_input_tokens}, output_tokens, server_tool_use, ...}]}], has_more, next_page}.
  The report carries no cost: Allot's price table prices it.
- OpenAI, `GET /v1/organization/usage/completions`: query `start_time` (Unix seconds),
  `bucket_width`, `group_by` (repeated), `limit`, `page`; header `Authorization: Bearer`. The
  body is {object: "page", data: [{object: "bucket", start_time, end_time, results:
  [{object: "organization.usage.completions.result", input_tokens, output_tokens,
  input_cached_tokens, num_model_requests, project_id, user_id, api_key_id, model, ...}]}],
  has_more, next_page}. No cost either.

Token counts as Allot counts them (input, output, cached input and cache writes, disjoint, as
the price table prices them): Anthropic's input is its uncached input, its cached input the
cache reads (cache_read_input_tokens), its cache writes cache_creation's
ephemeral_5m_input_tokens and ephemeral_1h_input_tokens, each priced at its own rate (Anthropic
bills a 5-minute write at 1.25 times input and a 1-hour one at 2 times,
https://platform.claude.com/docs/en/about-claude/pricing; budgets.TokenPrice's cache-write
rates, by default those multiples). OpenAI's input_tokens include the cached ones, which are
taken out; OpenAI bills no cache writes.

A bucket stored before cache writes had counts of their own had them in its input: read again,
its numbers differ, so it is a restatement and posts the price difference once."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.dateparse import parse_datetime

from common.money import dollars_to_micros
from connectors.client import ProviderError
from connectors.models import Provider, Report

ANTHROPIC_VERSION = "2023-06-01"
UNKNOWN_MODEL = "unknown"


@dataclass(frozen=True)
class BucketRow:
    starts_at: datetime
    ends_at: datetime
    identities: dict[str, str | None]  # in the report's order of precedence
    model_name: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    requests: int | None = None
    provider_cost_micros: int | None = None
    cache_write_tokens: int = 0  # written to a 5-minute prompt cache
    cache_write_1h_tokens: int = 0  # written to a 1-hour one

    @property
    def group_key(self) -> str:
        """The group's ids and model, e.g. api_key_id=apikey_01|workspace_id=-|model=claude."""
        parts = [f"{name}={value or '-'}" for name, value in self.identities.items()]
        return "|".join([*parts, f"model={self.model_name}"])


@dataclass(frozen=True)
class ReportSpec:
    provider: str
    report: str
    path: str
    identity_order: tuple[str, ...]
    params: Callable[[datetime], list[tuple[str, str]]]
    rows: Callable[[dict[str, Any]], list[BucketRow]]
    headers: Callable[[str], dict[str, str]]


def _tokens(result: dict, name: str) -> int:
    value = result.get(name) or 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProviderError(f"The report's {name} is not a count of tokens: {value!r}.")
    return value


def moment_of(value: Any) -> datetime:
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None or moment.tzinfo is None:
        raise ProviderError(f"The report's bucket time is not a date and time: {value!r}.")
    return moment.astimezone(UTC)


def provider_cost_micros(amount: Any) -> int:
    """A provider's amount in dollars (a JSON number or a decimal string) to micro-dollars,
    through the number's own digits (Decimal(str(x))), never a binary float."""
    try:
        return dollars_to_micros(Decimal(str(amount)), exact=False)
    except (InvalidOperation, ValueError) as error:
        raise ProviderError(f"The report's cost is not an amount: {amount!r}.") from error


# -- Anthropic: the messages usage report ------------------------------------------------------


def _anthropic_params(since: datetime) -> list[tuple[str, str]]:
    return [
        ("starting_at", since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("bucket_width", "1d"),
        ("group_by[]", "api_key_id"),
        ("group_by[]", "workspace_id"),
        ("group_by[]", "model"),
    ]


def _anthropic_rows(body: dict[str, Any]) -> list[BucketRow]:
    rows = []
    for bucket in body.get("data") or []:
        starts_at, ends_at = (
            moment_of(bucket.get("starting_at")),
            moment_of(bucket.get("ending_at")),
        )
        for result in bucket.get("results") or []:
            creation = result.get("cache_creation") or {}
            rows.append(
                BucketRow(
                    starts_at=starts_at,
                    ends_at=ends_at,
                    identities={
                        "api_key_id": result.get("api_key_id"),
                        "workspace_id": result.get("workspace_id"),
                    },
                    model_name=result.get("model") or UNKNOWN_MODEL,
                    input_tokens=_tokens(result, "uncached_input_tokens"),
                    output_tokens=_tokens(result, "output_tokens"),
                    cached_input_tokens=_tokens(result, "cache_read_input_tokens"),
                    cache_write_tokens=_tokens(creation, "ephemeral_5m_input_tokens"),
                    cache_write_1h_tokens=_tokens(creation, "ephemeral_1h_input_tokens"),
                )
            )
    return rows


def anthropic_headers(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION, "accept": "application/json"}


# -- OpenAI: the completions usage report ------------------------------------------------------


def _openai_params(since: datetime) -> list[tuple[str, str]]:
    return [
        ("start_time", str(int(since.timestamp()))),
        ("bucket_width", "1d"),
        ("limit", "31"),  # the most daily buckets a page may hold
        ("group_by", "user_id"),
        ("group_by", "project_id"),
        ("group_by", "api_key_id"),
        ("group_by", "model"),
    ]


def _openai_rows(body: dict[str, Any]) -> list[BucketRow]:
    rows = []
    for bucket in body.get("data") or []:
        starts_at, ends_at = moment_of(bucket.get("start_time")), moment_of(bucket.get("end_time"))
        for result in bucket.get("results") or []:
            cached = _tokens(result, "input_cached_tokens")
            rows.append(
                BucketRow(
                    starts_at=starts_at,
                    ends_at=ends_at,
                    identities={
                        "user_id": result.get("user_id"),
                        "api_key_id": result.get("api_key_id"),
                        "project_id": result.get("project_id"),
                    },
                    model_name=result.get("model") or UNKNOWN_MODEL,
                    input_tokens=max(_tokens(result, "input_tokens") - cached, 0),
                    output_tokens=_tokens(result, "output_tokens"),
                    cached_input_tokens=cached,
                    requests=result.get("num_model_requests"),
                )
            )
    return rows


def openai_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "accept": "application/json"}


REPORTS: dict[str, tuple[ReportSpec, ...]] = {
    Provider.ANTHROPIC: (
        ReportSpec(
            provider=Provider.ANTHROPIC,
            report=Report.ANTHROPIC_MESSAGES,
            path="/v1/organizations/usage_report/messages",
            identity_order=("api_key_id", "workspace_id"),
            params=_anthropic_params,
            rows=_anthropic_rows,
            headers=anthropic_headers,
        ),
    ),
    Provider.OPENAI: (
        ReportSpec(
            provider=Provider.OPENAI,
            report=Report.OPENAI_COMPLETIONS,
            path="/v1/organization/usage/completions",
            identity_order=("user_id", "api_key_id", "project_id"),
            params=_openai_params,
            rows=_openai_rows,
            headers=openai_headers,
        ),
    ),
}
