from datetime import date
from decimal import Decimal

import pytest

from budgets.authorize_reason import (
    IN_OVERDRAFT,
    OVER_SOFT_BUDGET,
    WITHIN_BUDGET,
    allowed_reason,
)
from budgets.calculations import (
    prorate_micros,
    tokens_at_rate,
    usage_cost_micros,
    utilisation_percent,
)
from common.fiscal import fiscal_year_period

YEAR = fiscal_year_period(2026, 1)  # 365 days
ANNUAL = 100_000 * 10**6


def test_a_call_is_priced_per_million_tokens_and_rounded_once_half_up():
    cost = usage_cost_micros(
        input_tokens=1_000,
        output_tokens=500,
        cached_input_tokens=2_000,
        input_per_million_micros=3_000_000,  # $3 / 1M
        output_per_million_micros=15_000_000,  # $15 / 1M
        cached_input_per_million_micros=300_000,  # $0.30 / 1M
    )
    # 1000 * 3 + 500 * 15 + 2000 * 0.3 = 3000 + 7500 + 600 micros... per million: $0.0111
    assert cost == 11_100

    tiny = usage_cost_micros(
        input_tokens=5,
        output_tokens=0,
        cached_input_tokens=0,
        input_per_million_micros=100_000,
        output_per_million_micros=0,
        cached_input_per_million_micros=0,
    )
    assert tiny == 1  # 0.5 micro rounds half up


def test_proration_gives_the_whole_year_to_someone_there_from_the_start():
    assert prorate_micros(ANNUAL, start=date(2025, 6, 1), period=YEAR) == ANNUAL
    assert prorate_micros(ANNUAL, start=date(2026, 1, 1), period=YEAR) == ANNUAL


def test_proration_counts_days_from_the_start_date_to_the_year_end():
    # 2026-07-02 to 2027-01-01 is 183 of 365 days
    assert prorate_micros(ANNUAL, start=date(2026, 7, 2), period=YEAR) == 50_136_986_301
    assert prorate_micros(ANNUAL, start=date(2026, 12, 31), period=YEAR) == 273_972_603
    assert prorate_micros(ANNUAL, start=date(2027, 1, 1), period=YEAR) == 0


def test_utilisation_and_tokens_left():
    assert utilisation_percent(allocated_micros=0, spent_micros=5) is None
    assert utilisation_percent(allocated_micros=300, spent_micros=100) == Decimal("33.33")
    # $100,000 at the essay's $0.0001 per token is one billion tokens
    assert tokens_at_rate(ANNUAL, Decimal("0.0001")) == 1_000_000_000
    assert tokens_at_rate(-1, Decimal("0.0001")) == 0


def test_the_limit_rule_names_the_enforcement_values_the_model_stores():
    from decimal import Decimal

    from budgets.calculations import limit_micros
    from budgets.models import Enforcement

    rule = {"allocated_micros": 1_000_000, "overdraft_percent": Decimal("12.5")}
    assert limit_micros(enforcement=Enforcement.SOFT, **rule) is None
    assert limit_micros(enforcement=Enforcement.HARD, **rule) == 1_000_000
    assert limit_micros(enforcement=Enforcement.HARD_OVERDRAFT, **rule) == 1_125_000


@pytest.mark.parametrize(
    ("enforcement", "remaining", "reason"),
    [
        ("soft", 0, WITHIN_BUDGET),
        ("hard", 5, WITHIN_BUDGET),
        ("soft", -1, OVER_SOFT_BUDGET),
        ("hard_overdraft", -1, IN_OVERDRAFT),
        ("hard_overdraft", 10, WITHIN_BUDGET),
    ],
)
def test_an_allowed_calls_reason_says_within_budget_only_when_it_fits(
    enforcement, remaining, reason
):
    assert allowed_reason(enforcement=enforcement, remaining_micros=remaining) == reason
