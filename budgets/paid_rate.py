"""The rate tokens are shown at: what the person, or else the company, actually paid per token
over the last 90 days, with the reference rate as the fallback when there is no usage yet.

The reference rate is a fixed convention (the company's settings); real usage is often far
cheaper per token, so "tokens left" at the reference rate understates what the money buys.
Every page that shows tokens this way names the basis it used (`PaidRate.basis`).
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db.models import F, Sum
from django.utils import timezone

from budgets.calculations import usd_per_token_paid
from budgets.models import UsageEvent
from people.models import Employee
from people.selectors import company_settings

PAID_RATE_DAYS = 90
# The company's rate reads every event of 90 days; it moves slowly, so it is kept an hour.
COMPANY_RATE_CACHE_SECONDS = 3600
COMPANY_RATE_CACHE_KEY = "budgets:paid-rate:company"


@dataclass(frozen=True, slots=True)
class PaidRate:
    usd_per_token: Decimal
    basis: str  # which rate it is, e.g. "what this person paid over the last 90 days"

    @property
    def per_million(self) -> Decimal:
        return (self.usd_per_token * 1_000_000).quantize(Decimal("0.01"))


def _rate_of(events) -> Decimal | None:
    totals = events.aggregate(
        cost=Sum("cost_micros"),
        tokens=Sum(
            F("input_tokens")
            + F("output_tokens")
            + F("cached_input_tokens")
            + F("cache_write_tokens")
            + F("cache_write_1h_tokens")
        ),
    )
    return usd_per_token_paid(totals["cost"], totals["tokens"])


def company_paid_rate() -> Decimal | None:
    """The company's average over the last 90 days (cached; None: no usage yet)."""
    cached = cache.get(COMPANY_RATE_CACHE_KEY)
    if cached is not None:
        return Decimal(cached) if cached else None
    since = timezone.now() - timedelta(days=PAID_RATE_DAYS)
    rate = _rate_of(UsageEvent.objects.filter(occurred_at__gte=since))
    cache.set(COMPANY_RATE_CACHE_KEY, str(rate) if rate else "", COMPANY_RATE_CACHE_SECONDS)
    return rate


def paid_rate(*, employee: Employee | None) -> PaidRate:
    """The person's own rate, else the company's, else the reference rate, with which it is."""
    if employee is not None:
        since = timezone.now() - timedelta(days=PAID_RATE_DAYS)
        own = _rate_of(employee.usage_events.filter(occurred_at__gte=since))
        if own is not None:
            return PaidRate(own, f"what this person paid over the last {PAID_RATE_DAYS} days")
    company = company_paid_rate()
    if company is not None:
        return PaidRate(company, f"what the company paid over the last {PAID_RATE_DAYS} days")
    reference = company_settings().reference_rate_usd_per_token
    return PaidRate(reference, "the reference rate: there is no usage yet to go by")
