from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from common.money import (
    DollarsFormField,
    MoneyError,
    divide_micros,
    dollars_to_micros,
    format_usd,
    micros_to_dollars,
    parse_decimal_string,
)

NOT_DECIMAL_STRINGS = [
    "1_000",  # Decimal() reads it as 1000
    "1e3",
    "1E-3",
    "1,000",
    "1 000",
    " 1",
    "1\n",
    "١٠٠٠",  # Arabic-Indic digits: Decimal() reads them too
    "𝟙",
    "0x10",
    "NaN",
    "Infinity",
    "+-1",
    "1..0",
    "1.0.0",
    ".",
    "",
    "-",
    "1" * 41,
]


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


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1000", "1000"),
        ("1000.50", "1000.50"),
        ("+1.5", "1.5"),
        ("-0.01", "-0.01"),
        (".5", "0.5"),
        ("5.", "5"),
        ("007", "7"),
    ],
)
def test_a_decimal_string_is_digits_one_point_and_an_optional_sign(text, value):
    assert parse_decimal_string(text) == Decimal(value)


@pytest.mark.parametrize("text", NOT_DECIMAL_STRINGS)
def test_anything_else_is_not_money_even_where_decimal_would_take_it(text):
    with pytest.raises(MoneyError, match="is not a decimal amount"):
        parse_decimal_string(text)
    with pytest.raises(MoneyError):
        dollars_to_micros(text)


@pytest.mark.parametrize("text", [t for t in NOT_DECIMAL_STRINGS if t.strip() not in ("", "1")])
def test_the_admins_money_field_refuses_the_same(text):
    with pytest.raises(ValidationError, match="is not a decimal amount"):
        DollarsFormField().clean(text)


def test_the_admins_money_field_forgives_spaces_around_what_was_typed():
    assert DollarsFormField().clean(" 1000.50 ") == 1_000_500_000
