from decimal import Decimal

import pytest

from common.money import (
    MoneyError,
    divide_micros,
    dollars_to_micros,
    format_usd,
    micros_to_dollars,
)


@pytest.mark.parametrize(
    ("dollars", "micros"),
    [("0", 0), ("1", 1_000_000), ("0.000001", 1), ("-2.5", -2_500_000), ("100000", 10**11)],
)
def test_dollars_and_micros_convert_both_ways_exactly(dollars, micros):
    assert dollars_to_micros(Decimal(dollars)) == micros
    assert micros_to_dollars(micros) == Decimal(dollars)


@pytest.mark.parametrize("bad", [0.1, "abc", "NaN", "Infinity", "1e400", None])
def test_what_is_not_an_exact_amount_is_refused(bad):
    with pytest.raises(MoneyError):
        dollars_to_micros(bad)


def test_more_than_six_places_is_an_error_unless_rounding_is_asked_for():
    with pytest.raises(MoneyError, match="decimal places"):
        dollars_to_micros("0.0000005")
    assert dollars_to_micros("0.0000005", exact=False) == 1  # half up
    assert dollars_to_micros("0.0000004", exact=False) == 0


def test_division_rounds_half_up_not_to_even():
    assert divide_micros(5, 2) == 3
    assert divide_micros(7, 2) == 4
    assert divide_micros(-5, 2) == -3


def test_display_rounds_to_the_cent_with_separators():
    assert format_usd(1_234_567_890) == "$1,234.57"
    assert format_usd(-5_000_000) == "-$5.00"
    assert format_usd(None) == "$0.00"
