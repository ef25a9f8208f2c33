"""Pure arithmetic of the quarterly report (no ORM): percentiles, utilisation buckets, bands,
forecasts. Money is integer micro-dollars; percentages come from `common.money.percent`."""

from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from common.money import MICROS_PER_DOLLAR, Micros, divide_micros

# Suggested bands are rounded to this step (a band of $48,712.33 helps no one).
BAND_STEP_MICROS = 1_000 * MICROS_PER_DOLLAR

UTILISATION_BUCKETS = (
    ("under_25", "Under 25 %"),
    ("25_to_75", "25 – 75 %"),
    ("75_to_100", "75 – 100 %"),
    ("over_100", "Over 100 %"),
)


def utilisation_bucket(*, spent_micros: Micros, allocated_micros: Micros) -> str:
    """Which spread bucket a budget falls in: under 25 %, 25–75 %, 75–100 % (inclusive of
    100 %), over 100 %. A budget with nothing allocated but some spend is over 100 %."""
    if allocated_micros <= 0:
        return "over_100" if spent_micros > 0 else "under_25"
    # Compare in integers: spent / allocated < 1/4  <=>  4 * spent < allocated.
    if 4 * spent_micros < allocated_micros:
        return "under_25"
    if 4 * spent_micros < 3 * allocated_micros:
        return "25_to_75"
    if spent_micros <= allocated_micros:
        return "75_to_100"
    return "over_100"


def percentile_nearest_rank(values: Sequence[int], share: int) -> int:
    """The nearest-rank percentile (e.g. share=50 for the median, 90 for p90) of integers: an
    actual value of the list, so money stays exact. 0 for an empty list."""
    if not values:
        return 0
    if not 0 < share <= 100:
        raise ValueError("share must be in 1..100")
    ordered = sorted(values)
    rank = -(-share * len(ordered) // 100)  # ceil(share * n / 100)
    return ordered[max(rank, 1) - 1]


def annualise(*, spent_micros: Micros, elapsed_days: int, year_days: int) -> Micros:
    """What a spend over the elapsed part of the year comes to over the whole year, at the same
    pace (half-up to the micro)."""
    if elapsed_days <= 0:
        return 0
    return divide_micros(spent_micros * year_days, elapsed_days)


def suggested_band(*, median_micros: Micros, p90_micros: Micros) -> tuple[Micros, Micros]:
    """A band for next year's level budget: from the median annualised use (rounded down to
    $1,000) to the p90 (rounded up to $1,000), so nine in ten people at the level fit in it."""
    step = Decimal(BAND_STEP_MICROS)
    low = int((Decimal(median_micros) / step).to_integral_value(rounding=ROUND_FLOOR) * step)
    high = int((Decimal(p90_micros) / step).to_integral_value(rounding=ROUND_CEILING) * step)
    return low, max(high, low)


def burn_rate(*, spent_micros: Micros, days: int) -> Micros:
    """Average spend per day over a number of days (0 when no days have passed)."""
    if days <= 0:
        return 0
    return divide_micros(spent_micros, days)


def average_price_per_million(*, spent_micros: Micros, tokens: int) -> Micros | None:
    """Average dollars (as micros) paid per million tokens; None when no tokens were bought."""
    if tokens <= 0:
        return None
    return divide_micros(spent_micros * 1_000_000, tokens)


def carryover_unspent(*, carried_in_micros: Micros, expired_micros: Micros, spent_micros: Micros):
    """Carried-over money still unspent in a budget. Carried money is drawn first (it is the
    money that expires), so spend uses it up before the year's own allocation."""
    return max(0, carried_in_micros - expired_micros - max(spent_micros, 0))


MICROS_PER_CENT = 10_000


def cents_spread(line_micros: list[int]) -> list[int]:
    """Each line's amount in cents, such that the lines add up exactly to their total rounded
    half up to the cent (largest remainder): a journal's lines then equal the ledger's total to
    the cent, however many lines the total is split into."""
    if not line_micros:
        return []
    total_cents = divide_micros(sum(line_micros), MICROS_PER_CENT)
    floors = [micros // MICROS_PER_CENT for micros in line_micros]
    short = total_cents - sum(floors)  # 0 <= short <= len(lines)
    by_remainder = sorted(
        range(len(line_micros)), key=lambda i: (-(line_micros[i] % MICROS_PER_CENT), i)
    )
    for index in by_remainder[:short]:
        floors[index] += 1
    return floors
