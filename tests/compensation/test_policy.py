"""Bands and the policy as HR edits them."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from common.errors import AllotError
from compensation.models import CompensationPolicy, LevelBand, policy
from compensation.services import offer_save, offer_submit
from people.models import Level
from tests.compensation.conftest import K, make_offer


def test_every_seeded_level_has_a_band_around_its_default_budget(db):
    band = LevelBand.objects.get(level__name="senior")
    assert (
        band.token_budget_min_micros,
        band.token_budget_target_micros,
        band.token_budget_max_micros,
    ) == (120_000 * K, 150_000 * K, 180_000 * K)


def test_a_band_out_of_order_is_refused(db):
    band = LevelBand.objects.get(level__name="mid")
    band.base_salary_target_micros = band.base_salary_max_micros + 1
    with pytest.raises(ValidationError, match="min ≤ target ≤ max"):
        band.full_clean()


def test_rates_whose_round_trip_would_create_value_are_refused(db):
    rules = CompensationPolicy(
        stock_to_token_rate=Decimal("1.25"), token_to_stock_rate=Decimal("1")
    )
    with pytest.raises(ValidationError, match="multiplied must be at most 1"):
        rules.full_clean()
    CompensationPolicy(
        stock_to_token_rate=Decimal("1.25"), token_to_stock_rate=Decimal("0.8")
    ).full_clean()


def test_a_trade_takes_the_rate_of_the_day_and_keeps_it(org):
    CompensationPolicy.objects.filter(pk=1).update(stock_to_token_rate=Decimal("1.5"))
    offer = make_offer(org, trade_direction="stock_to_tokens", trade_amount_micros=10_000 * K)
    assert offer.trade_rate == Decimal("1.5")
    assert offer.effective_token_budget_micros == 165_000 * K
    CompensationPolicy.objects.filter(pk=1).update(stock_to_token_rate=Decimal("1"))
    assert policy().stock_to_token_rate == Decimal("1")
    offer.refresh_from_db()
    assert offer.effective_token_budget_micros == 165_000 * K  # the offer does not move


def test_a_trade_over_the_policy_cap_is_refused(org):
    CompensationPolicy.objects.filter(pk=1).update(max_trade_percent=Decimal("50"))
    with pytest.raises(AllotError, match=r"At most 50% of the stock options' annual value"):
        make_offer(org, trade_direction="stock_to_tokens", trade_amount_micros=20_001 * K)


def test_a_level_without_a_band_uses_its_default_budget_and_cannot_be_submitted(org):
    principal = Level.objects.create(
        name="principal", rank=50, default_annual_budget_micros=300_000 * K
    )
    offer = make_offer(org, level_name="principal")
    assert offer.level == principal and offer.token_budget_micros == 300_000 * K
    with pytest.raises(AllotError, match="principal has no band yet"):
        offer_submit(offer=offer, acting_user=org["hr"])
    offer.position_title = "Principal Engineer"
    offer_save(offer=offer, acting_user=org["hr"])  # still a draft HR can change
