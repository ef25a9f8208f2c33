"""Pure budget arithmetic (no ORM): pricing, proration, utilisation, tokens at a rate."""

from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Protocol

from common.fiscal import Period
from common.money import MICROS_PER_DOLLAR, Micros, divide_micros, percent

TOKENS_PER_PRICE_UNIT = 1_000_000  # prices are per million tokens


# Anthropic prices a prompt-cache write by how long it is kept, from the model's input rate
# (https://platform.claude.com/docs/en/about-claude/pricing, "5m cache writes", "1h cache
# writes"; cache hits are the cached-input rate): 1.25 times input for 5 minutes, 2 times for 1
# hour. As quarters of the input rate, so the arithmetic stays in integers and rounds once.
CACHE_WRITE_5M_QUARTERS = 5
CACHE_WRITE_1H_QUARTERS = 8


def usage_cost_micros(
    *,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int,
    input_per_million_micros: Micros,
    output_per_million_micros: Micros,
    cached_input_per_million_micros: Micros,
    cache_write_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
    cache_write_per_million_micros: Micros | None = None,
    cache_write_1h_per_million_micros: Micros | None = None,
) -> Micros:
    """Cost of one call, rounded half-up once, to the micro-dollar. Cache writes (5-minute and
    1-hour) are priced at their own rates; a rate of None is the documented multiple of the
    input rate (CACHE_WRITE_*_QUARTERS). Without cache writes the cost is what it always was."""
    quarters = 4 * (
        input_tokens * input_per_million_micros
        + output_tokens * output_per_million_micros
        + cached_input_tokens * cached_input_per_million_micros
    )
    if cache_write_tokens:
        quarters += cache_write_tokens * _quarter_rate(
            cache_write_per_million_micros, input_per_million_micros, CACHE_WRITE_5M_QUARTERS
        )
    if cache_write_1h_tokens:
        quarters += cache_write_1h_tokens * _quarter_rate(
            cache_write_1h_per_million_micros, input_per_million_micros, CACHE_WRITE_1H_QUARTERS
        )
    return divide_micros(quarters, 4 * TOKENS_PER_PRICE_UNIT)


def _quarter_rate(rate: Micros | None, input_rate: Micros, multiple: int) -> int:
    """A cache-write rate in quarter-micros per million tokens: its own, else the multiple."""
    return 4 * rate if rate is not None else multiple * input_rate


def cache_write_quarter_rates(rates: "Rates") -> tuple[int, int]:
    """The 5-minute and 1-hour cache-write rates in force (their own, else the documented
    multiple of the input rate), in quarter-micros per million tokens: exact."""
    return (
        _quarter_rate(
            _own(rates, "cache_write_per_million_micros"),
            rates.input_per_million_micros,
            CACHE_WRITE_5M_QUARTERS,
        ),
        _quarter_rate(
            _own(rates, "cache_write_1h_per_million_micros"),
            rates.input_per_million_micros,
            CACHE_WRITE_1H_QUARTERS,
        ),
    )


def cache_write_rates(rates: "Rates") -> tuple[Micros, Micros]:
    """cache_write_quarter_rates half-up to the micro per million tokens, for display."""
    five_minutes, one_hour = cache_write_quarter_rates(rates)
    return divide_micros(five_minutes, 4), divide_micros(one_hour, 4)


def _own(rates: "Rates", name: str) -> Micros | None:
    return getattr(rates, name, None)


class Rates(Protocol):
    """A price's rates per million tokens: a TokenPrice, or a correction's new ones. The
    cache-write rates (cache_write_per_million_micros, cache_write_1h_per_million_micros) are
    optional attributes: absent or None, the documented multiple of the input rate."""

    input_per_million_micros: Micros
    output_per_million_micros: Micros
    cached_input_per_million_micros: Micros


def cost_at(
    rates: Rates,
    *,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int,
    cache_write_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
) -> Micros:
    """usage_cost_micros at a price's rates."""
    return usage_cost_micros(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached_input_tokens,
        input_per_million_micros=rates.input_per_million_micros,
        output_per_million_micros=rates.output_per_million_micros,
        cached_input_per_million_micros=rates.cached_input_per_million_micros,
        cache_write_tokens=cache_write_tokens,
        cache_write_1h_tokens=cache_write_1h_tokens,
        cache_write_per_million_micros=_own(rates, "cache_write_per_million_micros"),
        cache_write_1h_per_million_micros=_own(rates, "cache_write_1h_per_million_micros"),
    )


def limit_micros(
    *, enforcement: str, allocated_micros: Micros, overdraft_percent: Decimal
) -> Micros | None:
    """Most a budget may commit (spent + reserved) under a hard limit; None when it is soft.
    `enforcement` is an Enforcement value ("hard", "soft", "hard_overdraft")."""
    if enforcement == "soft":
        return None
    overdraft = 0
    if enforcement == "hard_overdraft":
        overdraft = int(allocated_micros * overdraft_percent / 100)
    return allocated_micros + overdraft


def prorate_micros(annual_micros: Micros, *, start: date, period: Period) -> Micros:
    """The share of a year's amount from `start` (inclusive) to the period's end, by days.

    Someone who starts on or before the first day gets the whole amount, after the last day nothing.
    """
    if start <= period.start:
        return annual_micros
    if start >= period.end:
        return 0
    return divide_micros(annual_micros * (period.end - start).days, period.days)


def prorate_between_micros(
    annual_micros: Micros, *, start: date, end: date | None, period: Period
) -> Micros:
    """The share of a year's amount for the days from `start` to `end` (both inclusive; None:
    no end) that fall in the period, by days, half-up once."""
    first = max(start, period.start)
    after_last = period.end if end is None else min(end + timedelta(days=1), period.end)
    if after_last <= first:
        return 0
    if first == period.start and after_last == period.end:
        return annual_micros
    return divide_micros(annual_micros * (after_last - first).days, period.days)


def utilisation_percent(*, allocated_micros: Micros, spent_micros: Micros) -> Decimal | None:
    """Spent as a percentage of allocated, two places half-up; None when nothing is allocated."""
    if allocated_micros <= 0:
        return None
    return percent(spent_micros, allocated_micros)


def tokens_at_rate(remaining_micros: Micros, usd_per_token: Decimal) -> int:
    """Whole tokens the remaining dollars buy at a reference rate (0 when nothing remains)."""
    if remaining_micros <= 0:
        return 0
    dollars = Decimal(remaining_micros) / MICROS_PER_DOLLAR
    return int((dollars / usd_per_token).to_integral_value(rounding=ROUND_FLOOR))


def runs_out_within_year(day: date | None, year_end: date) -> date | None:
    """A projected run-out date only when it falls inside the fiscal year (`year_end`, the day
    after it): a later date is "not this year at this rate" on every page, not a date in 2029."""
    return day if day is not None and day < year_end else None


def usd_per_token_paid(cost_micros: int | None, tokens: int | None) -> Decimal | None:
    """What a token cost on average (exact Decimal), or None with no priced usage to go by."""
    if not cost_micros or not tokens or cost_micros <= 0 or tokens <= 0:
        return None
    return Decimal(cost_micros) / MICROS_PER_DOLLAR / tokens
