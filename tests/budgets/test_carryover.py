"""Carryover arithmetic: pure functions, checked over many generated cases."""

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from budgets.carryover import (
    CarryoverRule,
    RuleOverride,
    carryover_cap,
    carryover_expiry,
    carryover_split,
    expiry_date,
    freed_hold_forfeitures,
    rate_after_price_change,
    rule_resolve,
)

MICROS = st.integers(min_value=-(10**15), max_value=10**15)
PERCENT = st.decimals(min_value=0, max_value=100, places=2)
CAP = st.one_of(st.none(), st.integers(min_value=0, max_value=10**14))
CAP_PERCENT = st.one_of(st.none(), st.decimals(min_value=0, max_value=1000, places=2))
RULES = st.builds(
    CarryoverRule,
    share_percent=PERCENT,
    cap_micros=CAP,
    cap_percent_of_allocation=CAP_PERCENT,
    expiry_months=st.integers(min_value=0, max_value=12),
)


@given(unused=MICROS, rule=RULES, allocation=st.integers(min_value=0, max_value=10**15))
def test_carried_plus_forfeited_is_the_unused_amount_never_negative_never_over_the_cap(
    unused, rule, allocation
):
    split = carryover_split(unused_micros=unused, rule=rule, next_allocation_micros=allocation)

    assert split.unused_micros == max(0, unused)
    assert split.carried_micros + split.forfeited_micros == split.unused_micros
    assert split.carried_micros >= 0
    assert split.forfeited_micros >= 0
    assert all(isinstance(v, int) for v in (split.carried_micros, split.forfeited_micros))
    cap = carryover_cap(rule, next_allocation_micros=allocation)
    if cap is not None:
        assert split.carried_micros <= cap
    # never more than the share, to the micro-dollar
    assert split.carried_micros * 100 <= split.unused_micros * rule.share_percent


@given(unused=st.integers(min_value=0, max_value=10**15), percent=PERCENT)
def test_without_a_cap_exactly_the_share_carries_rounded_down_to_the_micro(unused, percent):
    split = carryover_split(unused_micros=unused, rule=CarryoverRule(share_percent=percent))

    exact = Decimal(unused) * percent / 100
    assert split.carried_micros <= exact < split.carried_micros + 1


def test_the_lower_cap_wins_and_a_share_of_next_years_allocation_is_a_cap():
    rule = CarryoverRule(
        share_percent=Decimal(100),
        cap_micros=30_000_000_000,
        cap_percent_of_allocation=Decimal(10),
    )

    split = carryover_split(
        unused_micros=50_000_000_000, rule=rule, next_allocation_micros=100_000_000_000
    )

    assert split.carried_micros == 10_000_000_000  # 10 % of $100,000 beats the $30,000 cap
    assert split.forfeited_micros == 40_000_000_000


@given(carried=MICROS, spent=MICROS)
def test_expiry_takes_only_the_unspent_carried_part(carried, spent):
    expired = carryover_expiry(carried_micros=carried, spent_before_expiry_micros=spent)

    assert 0 <= expired <= max(0, carried)
    assert expired == max(0, max(0, carried) - max(0, spent))


def test_overrides_replace_only_the_fields_they_set_the_last_one_winning():
    company = CarryoverRule(share_percent=Decimal(50), cap_micros=5, expiry_months=3)

    rule = rule_resolve(
        company,
        None,
        RuleOverride(share_percent=Decimal(25)),
        RuleOverride(expiry_months=0, cap_micros=9),
    )

    assert rule == CarryoverRule(share_percent=Decimal(25), cap_micros=9, expiry_months=0)


def test_expiry_date_is_n_months_into_the_year_and_zero_means_never():
    assert expiry_date(date(2027, 4, 1), 3) == date(2027, 7, 1)
    assert expiry_date(date(2027, 11, 1), 3) == date(2028, 2, 1)
    assert expiry_date(date(2027, 1, 1), 0) is None


def test_a_price_fall_lowers_the_reference_rate_by_the_same_ratio():
    rate = rate_after_price_change(
        Decimal("0.0001"), cost_at_old_prices=1_000, cost_at_new_prices=800
    )

    assert rate == Decimal("0.00008")
    assert rate_after_price_change(
        Decimal("0.0001"), cost_at_old_prices=0, cost_at_new_prices=5
    ) == Decimal("0.0001")


@given(
    remaining=MICROS,
    freed=st.lists(st.integers(min_value=-(10**12), max_value=10**12), max_size=10),
)
def test_holds_freed_after_the_close_forfeit_what_they_free_as_far_as_it_is_unused(
    remaining, freed
):
    forfeited = freed_hold_forfeitures(remaining_micros=remaining, freed_micros=freed)

    assert len(forfeited) == len(freed)
    assert all(0 <= f <= max(0, h) for f, h in zip(forfeited, freed, strict=True))
    assert sum(forfeited) == min(sum(max(0, h) for h in freed), max(0, remaining))


def test_a_hold_freed_on_a_budget_the_close_left_at_zero_is_forfeited_whole():
    # the close left allocated - spent - reserved at 0; a $6 hold expiring makes it $6
    assert freed_hold_forfeitures(remaining_micros=6_000_000, freed_micros=[6_000_000]) == [
        6_000_000
    ]
    # late usage on the closed year already took $4 of it: only $2 is unused to forfeit
    assert freed_hold_forfeitures(remaining_micros=2_000_000, freed_micros=[6_000_000]) == [
        2_000_000
    ]
    # an overspent budget has nothing to give
    assert freed_hold_forfeitures(remaining_micros=-1, freed_micros=[6_000_000]) == [0]
