"""Pure year-end arithmetic (no ORM): how an unused budget splits into carried and forfeited,
what expires, which rule applies, and what a price change does to the reference rate.

Every amount is integer micro-dollars. A share is rounded down to the micro-dollar, so what
carries over never exceeds the share and carried + forfeited is always exactly the unused amount.
"""

from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from common.money import Micros

HUNDRED = Decimal(100)
RATE_QUANTUM = Decimal(1).scaleb(-12)  # reference rates are stored with 12 places


@dataclass(frozen=True)
class CarryoverRule:
    """The rule for one budget: share of the unused money that carries, its caps, its expiry."""

    share_percent: Decimal
    cap_micros: Micros | None = None
    cap_percent_of_allocation: Decimal | None = None
    expiry_months: int = 0


@dataclass(frozen=True)
class RuleOverride:
    """A layer that replaces only the fields it sets (None inherits)."""

    share_percent: Decimal | None = None
    cap_micros: Micros | None = None
    cap_percent_of_allocation: Decimal | None = None
    expiry_months: int | None = None


# Team pools carry nothing; a running project keeps its allocation (it ends with the project).
TEAM_POOL_RULE = CarryoverRule(share_percent=Decimal(0))
RUNNING_PROJECT_RULE = CarryoverRule(share_percent=HUNDRED)


@dataclass(frozen=True)
class CarryoverSplit:
    unused_micros: Micros
    carried_micros: Micros
    forfeited_micros: Micros


def rule_resolve(base: CarryoverRule, *overrides: RuleOverride | None) -> CarryoverRule:
    """The base rule with each override laid over it in turn (later ones win), field by field."""
    rule = base
    for layer in overrides:
        if layer is None:
            continue
        changes = {
            name: getattr(layer, name)
            for name in ("share_percent", "cap_micros", "cap_percent_of_allocation")
            if getattr(layer, name) is not None
        }
        if layer.expiry_months is not None:
            changes["expiry_months"] = layer.expiry_months
        rule = replace(rule, **changes)
    return rule


def share_of(amount_micros: Micros, percent: Decimal) -> Micros:
    """`percent` % of an amount, rounded down to the micro-dollar."""
    if amount_micros <= 0 or percent <= 0:
        return 0
    value = Decimal(amount_micros) * Decimal(percent) / HUNDRED
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def carryover_cap(rule: CarryoverRule, *, next_allocation_micros: Micros) -> Micros | None:
    """The most that may carry over: the lower of the absolute cap and the share of next year's
    allocation, or None when neither is set."""
    caps = []
    if rule.cap_micros is not None:
        caps.append(max(0, rule.cap_micros))
    if rule.cap_percent_of_allocation is not None:
        caps.append(share_of(max(0, next_allocation_micros), rule.cap_percent_of_allocation))
    return min(caps) if caps else None


def carryover_split(
    *, unused_micros: Micros, rule: CarryoverRule, next_allocation_micros: Micros = 0
) -> CarryoverSplit:
    """Split the unused money: the rule's share carries, at most the cap; the rest is forfeited.
    An overspent budget (negative unused) has nothing to carry and nothing to forfeit."""
    unused = max(0, unused_micros)
    carried = share_of(unused, rule.share_percent)
    cap = carryover_cap(rule, next_allocation_micros=next_allocation_micros)
    if cap is not None:
        carried = min(carried, cap)
    return CarryoverSplit(unused, carried, unused - carried)


def carryover_expiry(*, carried_micros: Micros, spent_before_expiry_micros: Micros) -> Micros:
    """What expires: spending draws carried-over money first, so only the part of it not spent
    by the expiry date goes."""
    return max(0, max(0, carried_micros) - max(0, spent_before_expiry_micros))


def freed_hold_forfeitures(*, remaining_micros: Micros, freed_micros: list[Micros]) -> list[Micros]:
    """What a budget whose year a rollover has closed forfeits for holds freed after the close,
    hold by hold, given its remaining money (allocated - spent - reserved) once they are freed.

    The close split all of the budget's unused money into carried and forfeited, so money a hold
    frees later is forfeited: it is not carried, because carryover was decided at the close. It
    is forfeited only as far as the budget has unused money to give: what late usage on the
    closed year took stays spent, and an overspent budget forfeits nothing."""
    available = max(0, remaining_micros)
    forfeitures = []
    for freed in freed_micros:
        forfeited = min(max(0, freed), available)
        available -= forfeited
        forfeitures.append(forfeited)
    return forfeitures


def expiry_date(year_start: date, months: int) -> date | None:
    """The day carried-over money expires, `months` after the year's first day (None = never)."""
    if months <= 0:
        return None
    index = year_start.year * 12 + (year_start.month - 1) + months
    return date(index // 12, index % 12 + 1, min(year_start.day, 28))


def rate_after_price_change(
    rate: Decimal, *, cost_at_old_prices: Micros, cost_at_new_prices: Micros
) -> Decimal:
    """The reference rate (USD per token) moved by the price index: what last year's token mix
    costs at the new prices over what it cost at the old ones. Unchanged without data."""
    if cost_at_old_prices <= 0 or cost_at_new_prices <= 0:
        return rate
    moved = Decimal(rate) * Decimal(cost_at_new_prices) / Decimal(cost_at_old_prices)
    return max(moved.quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP), RATE_QUANTUM)
