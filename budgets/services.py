"""Writes that move money on people's budgets: allocations, adjustments, transfers, the year's
allocation from a level. Each is atomic, takes who acted, and is safe to replay by its key; each
posts through the ledger kernel (budgets.ledger).
"""

from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from budgets.calculations import prorate_micros
from budgets.ledger import (
    DaySpend,
    Floor,
    amount_check,
    budget_create,
    daily_spend_add,
    entry_post,
    entry_post_once,
    entry_replayed,
    keys,
)
from budgets.ledger.keys import transfer_keys
from budgets.models import Budget, EntryKind, LedgerEntry, UsageEvent
from common.errors import AllotError
from common.money import Micros
from people.models import Employee
from people.selectors import fiscal_year_period

__all__ = [
    "budget_adjust",
    "budget_allocate",
    "budget_create",
    "budget_transfer",
    "employee_allocate_from_level",
    "level_allocation_key",
    "usage_correct",
]

User = AbstractBaseUser


@transaction.atomic
def budget_allocate(
    *,
    budget: Budget,
    amount_micros: Micros,
    acting_user: User | None,
    memo: str = "",
    idempotency_key: str | None = None,
    kind: str = EntryKind.ALLOCATION,
) -> LedgerEntry:
    """Add money to a budget (an allocation, an approved increase, a carryover in)."""
    if kind not in (EntryKind.ALLOCATION, EntryKind.APPROVED_INCREASE, EntryKind.CARRYOVER_IN):
        raise AllotError(f"{kind} is not a kind of allocation.", field="kind")
    amount_check(amount_micros, positive=True)
    entry, _ = entry_post_once(
        idempotency_key=idempotency_key,
        budget=budget,
        kind=kind,
        amount_micros=amount_micros,
        acting_user=acting_user,
        memo=memo,
    )
    return entry


@transaction.atomic
def budget_adjust(
    *,
    budget: Budget,
    amount_micros: Micros,
    acting_user: User | None,
    memo: str,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """A correction up or down; it needs a reason and never takes the allocation below zero."""
    amount_check(amount_micros, positive=False)
    if not memo.strip():
        raise AllotError("Say why the budget is adjusted.", field="memo")
    entry, _ = entry_post_once(
        idempotency_key=idempotency_key,
        budget=budget,
        kind=EntryKind.ADJUSTMENT,
        amount_micros=amount_micros,
        acting_user=acting_user,
        memo=memo,
    )
    return entry


@transaction.atomic
def budget_transfer(
    *,
    source: Budget,
    destination: Budget,
    amount_micros: Micros,
    acting_user: User | None,
    memo: str = "",
    idempotency_key: str | None = None,
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move unspent money between two budgets of the same year: two linked entries, one commit."""
    amount_check(amount_micros, positive=True)
    if source.pk == destination.pk:
        raise AllotError("A transfer needs two different budgets.", field="destination")
    if source.fiscal_year != destination.fiscal_year:
        raise AllotError("Transfers stay within one fiscal year.", field="destination")
    out_key, in_key = transfer_keys(idempotency_key)
    replay = entry_replayed(
        out_key, budget_id=source.pk, kind=EntryKind.TRANSFER_OUT, amount_micros=-amount_micros
    )
    if replay:
        return replay, LedgerEntry.objects.get(idempotency_key=in_key)
    # Lock both rows in id order so two opposite transfers cannot deadlock.
    list(
        Budget.objects.select_for_update().filter(pk__in=[source.pk, destination.pk]).order_by("pk")
    )
    out_entry = entry_post(
        budget=source,
        kind=EntryKind.TRANSFER_OUT,
        amount_micros=-amount_micros,
        acting_user=acting_user,
        memo=memo,
        idempotency_key=out_key,
        floor=Floor.COMMITTED,
    )
    in_entry = entry_post(
        budget=destination,
        kind=EntryKind.TRANSFER_IN,
        amount_micros=amount_micros,
        acting_user=acting_user,
        memo=memo,
        idempotency_key=in_key,
        counterpart=out_entry,
    )
    return out_entry, in_entry


def level_allocation_key(*, employee: Employee, fiscal_year: int) -> str:
    return keys.level_allocation_key(employee_id=employee.pk, fiscal_year=fiscal_year)


@transaction.atomic
def employee_allocate_from_level(
    *, employee: Employee, fiscal_year: int, acting_user: User | None
) -> tuple[LedgerEntry | None, bool]:
    """Give an employee the year's budget (their agreed amount, else their level's), prorated
    from the hire date when they
    joined during the year. Once per employee per year: a second call returns the first entry."""
    if not employee.is_active:
        raise AllotError(f"{employee} is not active and gets no new budget.", field="employee")
    period = fiscal_year_period(fiscal_year)
    amount = prorate_micros(
        employee.annual_budget_due_micros, start=employee.hire_date, period=period
    )
    if amount <= 0:
        return None, False
    budget, _ = budget_create(fiscal_year=fiscal_year, employee=employee, acting_user=acting_user)
    key = level_allocation_key(employee=employee, fiscal_year=fiscal_year)
    existing = LedgerEntry.objects.filter(idempotency_key=key).first()
    if existing:  # already allocated this year (perhaps before a promotion): nothing more
        return existing, False
    entry, created = entry_post_once(
        idempotency_key=key,
        budget=budget,
        kind=EntryKind.ALLOCATION,
        amount_micros=amount,
        acting_user=acting_user,
        memo=_allocation_memo(employee=employee, fiscal_year=fiscal_year, start=period.start),
    )
    return entry, created


def _allocation_memo(*, employee: Employee, fiscal_year: int, start: date) -> str:
    prorated = " (prorated from hire date)" if employee.hire_date > start else ""
    return f"FY{fiscal_year} allocation for level {employee.level}{prorated}"


@transaction.atomic
def usage_correct(
    *,
    event: UsageEvent,
    amount_micros: Micros,
    memo: str,
    idempotency_key: str,
    acting_user: User | None = None,
) -> tuple[LedgerEntry, bool]:
    """A later correction of what a recorded usage event cost (a provider restating a bucket):
    one usage-correction entry on the budget that paid the event, and the same amount on that
    budget's day in the rollup, dated when the event happened. Either sign; once per key.
    Returns the entry and whether this call posted it."""
    amount_check(amount_micros, positive=False)
    if not memo.strip():
        raise AllotError("Say why the usage is corrected.", field="memo")
    entry, created = entry_post_once(
        idempotency_key=idempotency_key,
        budget=Budget(pk=event.budget_id),
        kind=EntryKind.USAGE_CORRECTION,
        amount_micros=amount_micros,
        acting_user=acting_user,
        memo=memo,
    )
    if created:
        day = timezone.localtime(event.occurred_at).date()
        daily_spend_add({(event.budget_id, day): DaySpend(spent_micros=amount_micros)})
    return entry, created
