"""Price corrections: fixing a price that was already in force.

History is never edited: the events keep the cost they were charged, and each budget they were
charged to gets one usage-correction ledger entry for the difference (the daily rollup moves
with it, so burn rates and charts follow). The preview computes the same numbers without
writing, so what finance sees before applying is what is applied.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from budgets.calculations import cost_at
from budgets.ledger import DaySpend, daily_spend_add, entry_post
from budgets.ledger.keys import price_correction_key
from budgets.models import Budget, EntryKind, PriceCorrection, TokenPrice
from common.errors import AllotError
from common.money import Micros


@dataclass(frozen=True)
class NewPrice:
    input_per_million_micros: Micros
    output_per_million_micros: Micros
    cached_input_per_million_micros: Micros
    # None: the documented multiple of the new input rate (budgets.calculations)
    cache_write_per_million_micros: Micros | None = None
    cache_write_1h_per_million_micros: Micros | None = None


@dataclass
class RepricePreview:
    price: TokenPrice
    new: NewPrice
    events: int = 0
    old_total_micros: Micros = 0
    new_total_micros: Micros = 0
    per_budget: dict[int, Micros] = field(default_factory=dict)
    per_budget_day: dict[tuple[int, object], Micros] = field(default_factory=dict)

    @property
    def delta_micros(self) -> Micros:
        return self.new_total_micros - self.old_total_micros


def _cost(row: dict, price: NewPrice | TokenPrice) -> Micros:
    return cost_at(
        price,
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cached_input_tokens=row["cached_input_tokens"],
        cache_write_tokens=row["cache_write_tokens"],
        cache_write_1h_tokens=row["cache_write_1h_tokens"],
    )


def price_correction_preview(*, price: TokenPrice, new: NewPrice) -> RepricePreview:
    """What re-pricing the events this price version priced would change, budget by budget."""
    for value in (
        new.input_per_million_micros,
        new.output_per_million_micros,
        new.cached_input_per_million_micros,
        new.cache_write_per_million_micros or 0,
        new.cache_write_1h_per_million_micros or 0,
    ):
        if not isinstance(value, int) or value < 0:
            raise AllotError("Prices are amounts of dollars of zero or more.", field="price")
    preview = RepricePreview(price=price, new=new)
    per_budget: dict[int, int] = defaultdict(int)
    per_day: dict[tuple[int, object], int] = defaultdict(int)
    rows = price.usage_events.values(
        "budget_id",
        "occurred_at",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
    )
    for row in rows.iterator(chunk_size=5_000):
        old_cost, new_cost = _cost(row, price), _cost(row, new)
        preview.events += 1
        preview.old_total_micros += old_cost
        preview.new_total_micros += new_cost
        if new_cost != old_cost:
            per_budget[row["budget_id"]] += new_cost - old_cost
            day = timezone.localtime(row["occurred_at"]).date()
            per_day[(row["budget_id"], day)] += new_cost - old_cost
    preview.per_budget = {b: d for b, d in per_budget.items() if d}
    preview.per_budget_day = {k: d for k, d in per_day.items() if d}
    return preview


@transaction.atomic
def price_correct(
    *, price: TokenPrice, new: NewPrice, reason: str, acting_user: AbstractBaseUser | None
) -> PriceCorrection:
    """Change a price and post the difference for every event it priced."""
    if not reason.strip():
        raise AllotError("Say why the price is corrected.", field="reason")
    # NO KEY UPDATE: ingestion holds this row FOR SHARE while it prices (so it waits for us, or
    # we for it, taking the price before budgets on both sides); the events' foreign-key checks
    # (FOR KEY SHARE) do not conflict with it, so no deadlock.
    price = TokenPrice.objects.select_for_update(no_key=True).get(pk=price.pk)
    preview = price_correction_preview(price=price, new=new)
    correction = PriceCorrection.objects.create(
        price=price,
        old_input_per_million_micros=price.input_per_million_micros,
        old_output_per_million_micros=price.output_per_million_micros,
        old_cached_input_per_million_micros=price.cached_input_per_million_micros,
        new_input_per_million_micros=new.input_per_million_micros,
        new_output_per_million_micros=new.output_per_million_micros,
        new_cached_input_per_million_micros=new.cached_input_per_million_micros,
        events_repriced=preview.events,
        delta_micros=preview.delta_micros,
        reason=reason[:500],
        acting_user=acting_user,
    )
    memo = f"Repricing of {price} (correction {correction.pk}): {reason}"[:500]
    for budget_id in sorted(preview.per_budget):  # id order: no deadlock with other writers
        entry_post(
            budget=Budget(pk=budget_id),
            kind=EntryKind.USAGE_CORRECTION,
            amount_micros=preview.per_budget[budget_id],
            acting_user=acting_user,
            memo=memo,
            idempotency_key=price_correction_key(correction_id=correction.pk, budget_id=budget_id),
        )
    daily_spend_add(
        {key: DaySpend(spent_micros=delta) for key, delta in preview.per_budget_day.items()}
    )
    price.input_per_million_micros = new.input_per_million_micros
    price.output_per_million_micros = new.output_per_million_micros
    price.cached_input_per_million_micros = new.cached_input_per_million_micros
    price.cache_write_per_million_micros = new.cache_write_per_million_micros
    price.cache_write_1h_per_million_micros = new.cache_write_1h_per_million_micros
    price._change_reason = reason[:100]
    price.save()  # simple-history records who changed it and why
    return correction
