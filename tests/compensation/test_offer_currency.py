"""Offers in the candidate's currency: cash lines at finance's rate of the letter's day, the
token budget in dollars, a clear refusal without the day's rate, and only finance keeps rates."""

from datetime import timedelta
from decimal import Decimal

import pytest

from common.errors import AllotError
from compensation.currency import convert_micros, format_money
from compensation.letters import letter_html
from compensation.models import ExchangeRate
from compensation.services import exchange_rate_save, letter_generate, offer_save
from people.selectors import company_today
from tests.compensation.conftest import K, make_offer
from tests.factories import finance_user


def rate(currency: str, units_per_usd: str, *, days_ago: int = 0) -> ExchangeRate:
    return ExchangeRate.objects.create(
        currency=currency,
        day=company_today() - timedelta(days=days_ago),
        units_per_usd=Decimal(units_per_usd),
    )


def test_conversion_is_exact_to_the_currencys_minor_unit():
    assert convert_micros(190_000 * K, currency="EUR", units_per_usd=Decimal("0.92")) == Decimal(
        "174800.00"
    )
    # a third of a cent rounds half up; yen have no minor unit
    assert convert_micros(1_005_000, currency="GBP", units_per_usd=Decimal("0.5")) == Decimal(
        "0.50"
    )
    assert convert_micros(3_333_333, currency="JPY", units_per_usd=Decimal("150.15")) == Decimal(
        "500"
    )
    assert format_money(Decimal("174800.00"), "EUR") == "€174,800.00"
    assert format_money(Decimal("500"), "JPY") == "¥500"


def test_the_letter_prints_cash_lines_in_euros_and_the_token_budget_in_dollars(org):
    # given finance's rate of today and an offer in euros
    rate("EUR", "0.92")
    rate("EUR", "0.50", days_ago=1)  # yesterday's rate is not used
    offer = make_offer(org, currency="EUR", token_budget_micros=150_000 * K)
    html = letter_html(offer)
    # then salary, sign-on, health and development are in euros at today's rate
    for euros in ("€174,800.00", "€9,200.00", "€11,040.00", "€2,760.00"):
        assert euros in html
    assert '<td class="amount">$190,000.00</td>' not in html  # base salary in dollars
    # stock value and the token budget stay in dollars, and the letter says which is which
    assert "$40,000.00" in html and "$150,000.00" in html
    assert "at 0.92 EUR to the US dollar" in html
    assert "the token budget: AI providers bill in dollars" in html
    # the total is the cash in euros plus the dollars, each exact
    assert "€197,800.00 + $190,000.00" in html


def test_a_letter_in_a_currency_without_the_days_rate_is_refused_naming_it(org):
    rate("GBP", "0.79", days_ago=1)
    offer = make_offer(org, currency="GBP")
    with pytest.raises(AllotError, match=r"No exchange rate for GBP .* on ") as refused:
        letter_generate(offer=offer, acting_user=org["hr"])
    assert refused.value.field == "currency"
    assert not offer.letters.exists()
    # once finance adds today's, the letter is made; back in dollars no rate is needed
    rate("GBP", "0.79")
    assert "£150,100.00" in letter_generate(offer=offer, acting_user=org["hr"]).html
    offer.currency = "USD"
    offer_save(offer=offer, acting_user=org["hr"])
    assert "$190,000.00" in letter_html(offer)


def test_only_finance_keeps_the_rates(org, client):
    today = company_today()
    with pytest.raises(AllotError, match="Only finance"):
        exchange_rate_save(
            rate=ExchangeRate(currency="EUR", day=today, units_per_usd=Decimal("0.9")),
            acting_user=org["hr"],
        )
    # HR reads the rates in the admin but cannot add one
    client.force_login(org["hr"])
    assert client.get("/admin/compensation/exchangerate/").status_code == 200
    assert client.get("/admin/compensation/exchangerate/add/").status_code == 403
    form = {"currency": "EUR", "day": today.isoformat(), "units_per_usd": "0.91"}
    assert client.post("/admin/compensation/exchangerate/add/", form).status_code == 403
    assert not ExchangeRate.objects.exists()
    # finance adds it, recorded as theirs; a second rate for the same day is refused
    finance = finance_user()
    client.force_login(finance)
    response = client.post("/admin/compensation/exchangerate/add/", form)
    assert response.status_code == 302
    saved = ExchangeRate.objects.get()
    assert (saved.units_per_usd, saved.created_by) == (Decimal("0.91"), finance)
    again = client.post("/admin/compensation/exchangerate/add/", form)
    assert again.status_code == 200
    assert "already exists" in again.content.decode()
    # a rate of zero or below is refused on its field
    bad = client.post(
        "/admin/compensation/exchangerate/add/",
        {**form, "day": "2026-01-02", "units_per_usd": "-1"},
    )
    assert bad.status_code == 200 and ExchangeRate.objects.count() == 1
