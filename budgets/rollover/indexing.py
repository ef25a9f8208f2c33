"""Price-indexed budgets at the rollover: the closing year's effective rate, the new year's rate
at the current price table, and the factor the company's policy makes of them.

A person's new allocation from their level is the level's dollars times the factor: 1 when
budgets are fixed in dollars (today's behaviour: the same dollars buy more tokens as prices
fall), new rate / closing rate when they are fixed in tokens (dollars follow prices), or a blend
of the two, then held between the policy's floor and cap. The preview fixes the factor on its
RolloverRun, so the commit, and a commit resumed later, post exactly what the preview showed.

Everything but `year_effective_rates` and `rollover_indexing` is pure arithmetic.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Sum
from django.utils import timezone

from budgets.calculations import cache_write_quarter_rates
from budgets.models import RolloverRun, TokenPrice, UsageEvent
from common.money import MICROS_PER_DOLLAR, Micros, dollars_grouped
from people.models import BudgetIndexing
from people.selectors import company_settings, fiscal_year_period

RATE_QUANTUM = Decimal("0.000001")  # dollars per million tokens, as stored on the run
FACTOR_QUANTUM = Decimal("0.000001")
CENT_MICROS = MICROS_PER_DOLLAR // 100
ONE = Decimal(1)
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class YearRates:
    """What a million tokens cost: over the closing year as paid, and the same token mix at the
    current price table. None: the closing year had no priced usage to go by."""

    closing_per_million: Decimal | None
    new_per_million: Decimal | None
    tokens: int = 0
    cost_micros: Micros = 0


@dataclass(frozen=True, slots=True)
class IndexingPolicy:
    policy: str  # a BudgetIndexing value
    blend_weight_pct: Decimal = Decimal(50)
    floor_pct: Decimal | None = None
    cap_pct: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Indexing:
    """The run's indexing as the preview shows it and the commit applies it."""

    policy: str
    factor: Decimal
    closing_per_million: Decimal | None
    new_per_million: Decimal | None
    note: str


def _pct(value: Decimal) -> str:
    return f"{value.normalize():f} %"


def indexing_decide(*, policy: IndexingPolicy, rates: YearRates, fiscal_year: int) -> Indexing:
    """The factor for the new allocations, and a sentence saying how it was reached. Rounded to
    six places half up, from the rates as stored (six places), so anyone can redo it by hand."""
    closing, new = rates.closing_per_million, rates.new_per_million
    if policy.policy == BudgetIndexing.DOLLARS:
        return Indexing(
            policy.policy, ONE, closing, new, "Fixed in dollars: the level's dollars (factor 1)."
        )
    if not closing or new is None:
        return Indexing(
            policy.policy,
            ONE,
            closing,
            new,
            f"No priced usage in FY{fiscal_year} to measure an effective rate by: the level's "
            "dollars (factor 1).",
        )
    ratio = new / closing
    if policy.policy == BudgetIndexing.TOKENS:
        raw, how = ratio, f"fixed in tokens: new rate / closing rate = {_q(ratio)}"
    else:
        weight = policy.blend_weight_pct / HUNDRED
        raw = ONE + weight * (ratio - ONE)
        how = (
            f"blend {_pct(policy.blend_weight_pct)} toward tokens: 1 + "
            f"{weight.normalize():f} x ({_q(ratio)} - 1) = {_q(raw)}"
        )
    factor = raw
    floor = policy.floor_pct / HUNDRED if policy.floor_pct is not None else None
    cap = policy.cap_pct / HUNDRED if policy.cap_pct is not None else None
    if floor is not None and factor < floor:
        factor, how = floor, f"{how}, raised to the floor of {_pct(policy.floor_pct)}"
    if cap is not None and factor > cap:
        factor, how = cap, f"{how}, lowered to the cap of {_pct(policy.cap_pct)}"
    factor = _q(factor)
    return Indexing(policy.policy, factor, closing, new, f"{how[0].upper()}{how[1:]}.")


def _q(value: Decimal) -> Decimal:
    return value.quantize(FACTOR_QUANTUM, rounding=ROUND_HALF_UP)


def indexed_micros(level_micros: Micros, factor: Decimal | None) -> Micros:
    """The level's dollars times the factor, to the cent (half up). Factor 1 (or none) leaves
    the amount exactly as it was, so a dollars policy changes nothing."""
    if factor is None or factor == ONE or level_micros == 0:
        return level_micros
    cents = (Decimal(level_micros) * factor / CENT_MICROS).to_integral_value(ROUND_HALF_UP)
    return int(cents) * CENT_MICROS


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _price_at(model_name: str, moment: datetime) -> TokenPrice | None:
    return (
        TokenPrice.objects.filter(model_name=model_name, effective_from__lte=moment)
        .order_by("-effective_from")
        .first()
    )


def year_effective_rates(*, fiscal_year: int, at: datetime | None = None) -> YearRates:
    """Dollars per million tokens over `fiscal_year`, company-wide, from its usage rows as
    priced (cost over input + output + cached tokens, exact Decimal), and the same year's token
    mix, model by model and kind by kind, at the price table in force at `at` (default: the
    later of now and the new year's first day, so a price change already set for the new year
    counts). A model with no price in the table keeps what it cost: its price is taken as
    unchanged. Both rates are rounded half up to six places; None when the year had no priced
    usage. A price fall in the table shows as a new rate below the closing one."""
    period = fiscal_year_period(fiscal_year)
    if at is None:
        at = max(timezone.now(), _day_start(period.end))
    mix = (
        UsageEvent.objects.filter(
            occurred_at__gte=_day_start(period.start), occurred_at__lt=_day_start(period.end)
        )
        .values("model_name")
        .annotate(
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cached=Sum("cached_input_tokens"),
            cache_writes=Sum("cache_write_tokens"),
            cache_writes_1h=Sum("cache_write_1h_tokens"),
            cost=Sum("cost_micros"),
        )
        .order_by("model_name")
    )
    tokens = cost = 0
    new_cost = 0  # micros x 1,000,000: tokens times the price per million tokens
    for row in mix:
        writes, writes_1h = row["cache_writes"] or 0, row["cache_writes_1h"] or 0
        tokens += row["input_tokens"] + row["output_tokens"] + row["cached"] + writes + writes_1h
        cost += row["cost"] or 0
        price = _price_at(row["model_name"], at)
        if price is None:
            new_cost += (row["cost"] or 0) * 1_000_000
            continue
        new_cost += (
            row["input_tokens"] * price.input_per_million_micros
            + row["output_tokens"] * price.output_per_million_micros
            + row["cached"] * price.cached_input_per_million_micros
        )
        if writes or writes_1h:  # cache writes at their rates, in quarter-micros: exact
            five_minutes, one_hour = cache_write_quarter_rates(price)
            new_cost += Decimal(writes * five_minutes + writes_1h * one_hour) / 4
    if tokens <= 0 or cost <= 0:
        return YearRates(None, None, tokens, cost)
    closing = (Decimal(cost) / tokens).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)
    new = (Decimal(new_cost) / 1_000_000 / tokens).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP)
    return YearRates(closing, new, tokens, cost)


def company_indexing_policy() -> IndexingPolicy:
    settings_row = company_settings()
    return IndexingPolicy(
        policy=settings_row.budget_indexing,
        blend_weight_pct=settings_row.indexing_blend_weight,
        floor_pct=settings_row.indexing_floor_pct,
        cap_pct=settings_row.indexing_cap_pct,
    )


def rollover_indexing(*, fiscal_year: int) -> Indexing:
    """The company's policy applied to closing `fiscal_year`: what the preview stores."""
    return indexing_decide(
        policy=company_indexing_policy(),
        rates=year_effective_rates(fiscal_year=fiscal_year),
        fiscal_year=fiscal_year,
    )


def indexing_display(run: RolloverRun) -> dict[str, str]:
    """A RolloverRun's price indexing as the preview page and the command word it."""
    factor = run.indexing_factor if run.indexing_factor is not None else Decimal(1)
    return {
        "policy": dict(BudgetIndexing.choices).get(
            run.indexing_policy or BudgetIndexing.DOLLARS, run.indexing_policy
        ),
        "closing_rate": _per_million(run.effective_rate_closing),
        "new_rate": _per_million(run.effective_rate_new),
        "factor": f"{factor:f}",
        "note": run.indexing_note
        or "Previewed before indexing existed: the level's dollars (factor 1).",
    }


def _per_million(rate: Decimal | None) -> str:
    return f"${dollars_grouped(rate)} per million tokens" if rate is not None else "no priced usage"
