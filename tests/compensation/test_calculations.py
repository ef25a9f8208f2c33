"""The pure arithmetic: proration, bands, the stock-for-tokens trade, the package total."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compensation.calculations import (
    TradeDirection,
    TradeError,
    band_check,
    convert_micros,
    first_year_budget,
    match_401k_micros,
    outside_bands_micros,
    package_lines,
    package_total_micros,
    trade_apply,
)

K = 10**6
APRIL = 4


# Proration ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "fiscal_year", "days", "year_days", "amount"),
    [
        # FY2026 runs 2026-04-01 .. 2027-03-31 (365 days; no Feb 29 in it).
        (date(2026, 4, 1), 2026, 365, 365, 150_000 * K),  # the first day: the whole year
        (date(2026, 10, 1), 2026, 182, 365, 74_794_520_548),  # 150k × 182/365, half up
        (date(2027, 3, 31), 2026, 1, 365, 410_958_904),  # the last day: one day's share
        (date(2027, 1, 15), 2026, 76, 365, 31_232_876_712),  # Jan–Mar belong to FY2026
        # FY2027 holds Feb 29 2028: 366 days.
        (date(2027, 4, 1), 2027, 366, 366, 150_000 * K),
        (date(2028, 2, 29), 2027, 32, 366, 13_114_754_098),  # a leap day start
        (date(2028, 3, 31), 2027, 1, 366, 409_836_066),  # last day of a leap fiscal year
    ],
)
def test_first_year_budget_with_an_april_fiscal_year(start, fiscal_year, days, year_days, amount):
    # given a $150,000 budget and a fiscal year starting in April
    # when the hire starts on `start`
    prorated = first_year_budget(150_000 * K, start=start, fiscal_year_start_month=APRIL)
    # then the year, the days counted and the amount are exact
    assert prorated.fiscal_year == fiscal_year
    assert (prorated.days, prorated.year_days) == (days, year_days)
    assert prorated.amount_micros == amount


def test_calendar_fiscal_year_leap_and_last_day():
    leap = first_year_budget(366 * K, start=date(2028, 12, 31), fiscal_year_start_month=1)
    assert (leap.fiscal_year, leap.days, leap.year_days, leap.amount_micros) == (2028, 1, 366, K)
    plain = first_year_budget(365 * K, start=date(2026, 12, 31), fiscal_year_start_month=1)
    assert (plain.days, plain.year_days, plain.amount_micros) == (1, 365, K)


@given(
    annual=st.integers(min_value=0, max_value=10**12),
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
    month=st.integers(min_value=1, max_value=12),
)
def test_proration_is_bounded_and_exact(annual, start, month):
    prorated = first_year_budget(annual, start=start, fiscal_year_start_month=month)
    assert 0 <= prorated.amount_micros <= annual
    assert 1 <= prorated.days <= prorated.year_days
    assert prorated.year_days in (365, 366)
    # exact: within half a micro of the true share, and never a float
    assert isinstance(prorated.amount_micros, int)
    assert abs(prorated.amount_micros * prorated.year_days - annual * prorated.days) * 2 <= (
        prorated.year_days
    )


@given(
    start=st.dates(min_value=date(2000, 1, 2), max_value=date(2100, 12, 31)),
    month=st.integers(min_value=1, max_value=12),
)
def test_a_later_start_in_the_same_year_never_gets_more(start, month):
    earlier = start - timedelta(days=1)
    a = first_year_budget(100_000 * K, start=earlier, fiscal_year_start_month=month)
    b = first_year_budget(100_000 * K, start=start, fiscal_year_start_month=month)
    if a.fiscal_year == b.fiscal_year:
        assert a.amount_micros >= b.amount_micros


# Bands ------------------------------------------------------------------------------------


def test_band_checks_within_above_and_below():
    within = band_check(
        label="Base salary", value_micros=150 * K, min_micros=100 * K, max_micros=200 * K
    )
    above = band_check(
        label="Token budget", value_micros=260 * K, min_micros=100 * K, max_micros=200 * K
    )
    below = band_check(
        label="Base salary", value_micros=90 * K, min_micros=100 * K, max_micros=200 * K
    )
    edge = band_check(
        label="Base salary", value_micros=200 * K, min_micros=100 * K, max_micros=200 * K
    )
    assert within.within and edge.within
    assert (above.above_by, above.within) == (60 * K, False)
    assert (below.below_by, below.within) == (10 * K, False)
    assert above.message == "Token budget is $60.00 above the band ($100.00–$200.00)"
    assert outside_bands_micros([within, above, below, edge]) == 70 * K


def test_a_band_with_min_over_max_is_refused():
    with pytest.raises(ValueError, match="minimum is above its maximum"):
        band_check(label="Base salary", value_micros=1, min_micros=2, max_micros=1)


# The trade --------------------------------------------------------------------------------


def test_stock_for_tokens_at_par_keeps_the_total_to_the_cent():
    trade = trade_apply(
        stock_value_micros=40_000 * K,
        token_budget_micros=150_000 * K,
        direction=TradeDirection.STOCK_TO_TOKENS,
        given_micros=25_000 * K,
        rate=Decimal("1"),
    )
    assert (trade.stock_value_micros, trade.token_budget_micros) == (15_000 * K, 175_000 * K)
    assert trade.value_change_micros == 0


def test_a_rate_below_par_rounds_the_received_amount_down_to_the_cent():
    # $10,000.01 of stock at 0.8333 is $8,333.008333 of tokens: the candidate gets $8,333.00
    trade = trade_apply(
        stock_value_micros=40_000 * K,
        token_budget_micros=100_000 * K,
        direction=TradeDirection.STOCK_TO_TOKENS,
        given_micros=10_000_010_000,
        rate=Decimal("0.8333"),
    )
    assert trade.received_micros == 8_333_000_000
    assert trade.token_budget_micros == 108_333_000_000
    assert trade.stock_value_micros == 29_999_990_000


def test_tokens_for_stock_and_the_policy_cap():
    trade = trade_apply(
        stock_value_micros=0,
        token_budget_micros=100_000 * K,
        direction=TradeDirection.TOKENS_TO_STOCK,
        given_micros=20_000 * K,
        rate=Decimal("0.5"),
        max_share_percent=Decimal("20"),
    )
    assert (trade.stock_value_micros, trade.token_budget_micros) == (10_000 * K, 80_000 * K)
    with pytest.raises(TradeError, match=r"At most 20% of the token budget \(\$20,000.00\)"):
        trade_apply(
            stock_value_micros=0,
            token_budget_micros=100_000 * K,
            direction=TradeDirection.TOKENS_TO_STOCK,
            given_micros=20_000 * K + 1,
            rate=Decimal("0.5"),
            max_share_percent=Decimal("20"),
        )
    with pytest.raises(TradeError, match="stock options' annual value"):
        trade_apply(
            stock_value_micros=1_000 * K,
            token_budget_micros=0,
            direction=TradeDirection.STOCK_TO_TOKENS,
            given_micros=1_000 * K + 1,
            rate=Decimal("1"),
        )


@given(
    stock=st.integers(min_value=0, max_value=10**12),
    tokens=st.integers(min_value=0, max_value=10**12),
    share=st.integers(min_value=0, max_value=100),
    rate=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1"), places=4),
    direction=st.sampled_from([TradeDirection.STOCK_TO_TOKENS, TradeDirection.TOKENS_TO_STOCK]),
)
def test_a_trade_within_policy_never_raises_total_value_and_moves_whole_cents(
    stock, tokens, share, rate, direction
):
    source = stock if direction == TradeDirection.STOCK_TO_TOKENS else tokens
    given_micros = source * share // 100
    trade = trade_apply(
        stock_value_micros=stock,
        token_budget_micros=tokens,
        direction=direction,
        given_micros=given_micros,
        rate=rate,
    )
    before, after = stock + tokens, trade.stock_value_micros + trade.token_budget_micros
    assert after <= before
    assert after == before - given_micros + trade.received_micros  # every total = sum of parts
    assert trade.received_micros % 10_000 == 0  # whole cents
    assert 0 <= given_micros * rate - trade.received_micros < 10_000  # short by under a cent


def test_convert_micros_is_exact():
    assert convert_micros(1 * K, Decimal("0.3333")) == 330_000
    assert convert_micros(3 * K, Decimal("0.3333")) == 990_000


# The package ------------------------------------------------------------------------------


def test_the_total_annual_value_is_the_sum_of_its_lines_with_tokens_as_their_own_line():
    lines = package_lines(
        base_salary_micros=190_000 * K,
        stock_value_micros=40_000 * K,
        sign_on_bonus_micros=10_000 * K,
        health_plan_cost_micros=12_000 * K,
        match_401k_percent=Decimal("4.5"),
        professional_development_micros=3_000 * K,
        token_budget_micros=150_000 * K,
    )
    by_key = {line.key: line.amount_micros for line in lines}
    assert by_key["match_401k"] == 8_550 * K
    assert by_key["token_budget"] == 150_000 * K
    assert package_total_micros(lines) == 413_550 * K


def test_401k_match_rounds_half_up_to_the_micro():
    assert match_401k_micros(1, Decimal("50")) == 1  # 0.5 micro rounds up
    assert match_401k_micros(123_456_789, Decimal("3.33")) == 4_111_111
