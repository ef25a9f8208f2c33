from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from common.money import (
    DollarsFormField,
    MoneyError,
    divide_micros,
    dollars_to_micros,
    format_usd,
    format_usd_exact,
    format_usd_short,
    micros_to_dollars,
    parse_decimal_string,
    percent,
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


def test_a_percentage_rounds_half_up_not_to_even():
    assert percent(1, 800) == Decimal("0.13")  # 0.125 %
    assert str(percent(1, 800)) == "0.13"
    assert percent(3, 800) == Decimal("0.38")  # 0.375 %: half-even would also give 0.38
    assert percent(1, 8, places=1) == Decimal("12.5")
    assert percent(1, 16, places=1) == Decimal("6.3")  # 6.25 %
    assert percent(1, 3) == Decimal("33.33")
    assert percent(2, 3) == Decimal("66.67")
    assert str(percent(5, 5)) == "100.00"
    assert str(percent(300, 300, places=0)) == "100"


def test_a_percentage_of_nothing_is_none():
    assert percent(5, 0) is None
    assert percent(0, 0) is None
    assert str(percent(0, 5)) == "0.00"


def test_a_negative_percentage_rounds_away_from_zero_on_a_tie():
    assert percent(-1, 800) == Decimal("-0.13")
    assert percent(1, -800) == Decimal("-0.13")
    assert percent(-1, -800) == Decimal("0.13")
    assert percent(-250, 1000) == Decimal("-25.00")
    # Decimal's own sign: a negative share too small to show still reads as negative.
    assert str(percent(-1, 10**9)) == "-0.00"


def test_a_percentage_of_large_amounts_is_exact():
    # A billion dollars in micros against a company's year: no digit lost to a Decimal context.
    whole = 10**15 * 3
    assert percent(10**15, whole) == Decimal("33.33")
    assert percent(10**30 + 5 * 10**25, 10**30) == Decimal("100.01")  # 100.005 %: half up
    assert percent(10**30 + 5 * 10**25 - 1, 10**30) == Decimal("100.00")  # just under the tie
    assert str(percent(10**40, 1)) == "1" + "0" * 42 + ".00"


AMOUNTS = st.integers(min_value=-(10**18), max_value=10**18)
WHOLES = AMOUNTS.filter(lambda n: n != 0)


@given(part=AMOUNTS, whole=WHOLES)
def test_a_percentage_is_the_exact_quotient_rounded_half_up(part, whole):
    with localcontext(prec=100):  # enough digits that this division is exact to the tie
        exact = Decimal(part) * 100 / Decimal(whole)
        assert percent(part, whole) == exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@given(part=AMOUNTS, whole=WHOLES)
def test_a_percentage_rounded_down_is_what_floor_division_reaches(part, whole):
    assert percent(part, whole, places=0, rounding=ROUND_FLOOR) == part * 100 // whole


def test_a_percentage_rounds_only_half_up_or_down():
    with pytest.raises(ValueError, match="half-up or down"):
        percent(1, 3, rounding="ROUND_HALF_EVEN")


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


# A form also takes thousands grouped as it shows them ("1,000"); everything else it refuses.
@pytest.mark.parametrize(
    "text", [t for t in NOT_DECIMAL_STRINGS if t.strip() not in ("", "1") and t != "1,000"]
)
def test_the_admins_money_field_refuses_the_same(text):
    with pytest.raises(ValidationError, match="is not a decimal amount"):
        DollarsFormField().clean(text)


def test_the_admins_money_field_forgives_spaces_around_what_was_typed():
    assert DollarsFormField().clean(" 1000.50 ") == 1_000_500_000


@pytest.mark.parametrize(
    ("micros", "shown"),
    [
        (150_000_000_000, "150,000.00"),
        (40_000_000_000, "40,000.00"),
        (100_000_000_000, "100,000.00"),
        (0, "0.00"),
        (-2_500_000, "-2.50"),
        (1_234_567, "1.234567"),
        (1_234_567_890_123, "1,234,567.890123"),
    ],
)
def test_the_admins_money_field_shows_dollars_without_an_exponent(micros, shown):
    # Given a stored amount; when the admin's form shows it; then plain dollars, never "1.5E+5".
    field = DollarsFormField()
    assert field.prepare_value(micros) == shown
    assert f'value="{shown}"' in field.widget.render("amount", field.prepare_value(micros))
    assert field.clean(shown) == micros


@pytest.mark.parametrize(
    ("typed", "micros"),
    [
        ("150,000.00", 150_000_000_000),
        ("1,000", 1_000_000_000),
        ("-1,234,567.5", -1_234_567_500_000),
        (" 40,000 ", 40_000_000_000),
        ("150000", 150_000_000_000),
    ],
)
def test_the_admins_money_field_takes_back_the_grouping_it_shows(typed, micros):
    assert DollarsFormField().clean(typed) == micros


@pytest.mark.parametrize("typed", ["1,50", "1,0000", ",100", "100,", "1,000,00", "1.000,50"])
def test_the_admins_money_field_refuses_commas_that_do_not_group_thousands(typed):
    # "1,50" is not read as 150 nor as 1.50: the person is asked again
    with pytest.raises(ValidationError, match="is not a decimal amount"):
        DollarsFormField().clean(typed)


def test_the_money_input_is_text_so_a_browser_keeps_the_grouping():
    rendered = DollarsFormField().widget.render("amount", "150,000.00")
    assert 'type="text"' in rendered and 'inputmode="decimal"' in rendered


@pytest.mark.parametrize(
    ("micros", "shown"),
    [
        (150_000_000_000, "$150,000.00"),
        (90_000_000_000, "$90,000.00"),
        (3, "$0.000003"),
        (-2_500_000, "-$2.50"),
        (0, "$0.00"),
    ],
)
def test_read_only_money_shows_exact_grouped_dollars(micros, shown):
    assert format_usd_exact(micros) == shown


def test_short_dollars_for_chart_labels_round_half_up_and_keep_the_sign():
    assert format_usd_short(12_345_670_000) == "$12.3k"
    assert format_usd_short(1_250_000_000_000) == "$1.3M"
    assert format_usd_short(511_500_000) == "$512"
    assert format_usd_short(-2_050_000_000) == "-$2.1k"
