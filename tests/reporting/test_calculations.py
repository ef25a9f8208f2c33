"""The report's pure arithmetic, without a database."""

from decimal import Decimal

import pytest

from common.money import spend_per_unit
from reporting import calculations as calc

K = 10**6


@pytest.mark.parametrize(
    ("spent", "allocated", "bucket"),
    [
        (0, 100, "under_25"),
        (24_999_999, 100 * K, "under_25"),
        (25 * K, 100 * K, "25_to_75"),
        (74_999_999, 100 * K, "25_to_75"),
        (75 * K, 100 * K, "75_to_100"),
        (100 * K, 100 * K, "75_to_100"),
        (100 * K + 1, 100 * K, "over_100"),
        (1, 0, "over_100"),
        (0, 0, "under_25"),
    ],
)
def test_utilisation_buckets_at_their_edges(spent, allocated, bucket):
    assert calc.utilisation_bucket(spent_micros=spent, allocated_micros=allocated) == bucket


def test_nearest_rank_percentiles_are_values_of_the_list():
    values = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6]
    assert calc.percentile_nearest_rank(values, 50) == 5
    assert calc.percentile_nearest_rank(values, 90) == 9
    assert calc.percentile_nearest_rank(values, 100) == 10
    assert calc.percentile_nearest_rank([7], 90) == 7
    assert calc.percentile_nearest_rank([], 50) == 0
    with pytest.raises(ValueError):
        calc.percentile_nearest_rank(values, 0)


def test_suggested_band_rounds_out_to_whole_thousands():
    low, high = calc.suggested_band(median_micros=48_712_330_000, p90_micros=90_000_000_001)
    assert (low, high) == (48_000 * K, 91_000 * K)
    assert calc.suggested_band(median_micros=0, p90_micros=0) == (0, 0)


def test_annualise_and_burn_rate_round_half_up():
    assert calc.annualise(spent_micros=91, elapsed_days=91, year_days=365) == 365
    assert calc.annualise(spent_micros=1, elapsed_days=2, year_days=3) == 2  # 1.5 -> 2
    assert calc.annualise(spent_micros=5, elapsed_days=0, year_days=365) == 0
    assert calc.burn_rate(spent_micros=10, days=4) == 3  # 2.5 -> 3
    assert calc.burn_rate(spent_micros=10, days=0) == 0


def test_prices_and_spend_per_unit():
    assert calc.average_price_per_million(spent_micros=3 * K, tokens=2_000_000) == 1_500_000
    assert calc.average_price_per_million(spent_micros=3 * K, tokens=0) is None
    assert spend_per_unit(spent_micros=10 * K, units=Decimal("4")) == 2_500_000
    assert spend_per_unit(spent_micros=10 * K, units=Decimal("0")) is None


def test_carried_money_is_drawn_first():
    assert calc.carryover_unspent(carried_in_micros=500, expired_micros=100, spent_micros=99) == 301
    assert calc.carryover_unspent(carried_in_micros=500, expired_micros=0, spent_micros=900) == 0
    assert calc.carryover_unspent(carried_in_micros=500, expired_micros=0, spent_micros=-5) == 500
