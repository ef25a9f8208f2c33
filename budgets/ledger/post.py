"""One entry at a time: the locked, conditional, idempotent post.

An entry and the move of its budget's running total happen in one transaction; a limit is
checked and committed in one conditional UPDATE, never read-then-write.
"""

from enum import Enum

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F

from budgets.models import SPENT_KINDS, Budget, LedgerEntry, RolloverRun
from common.errors import AllotError
from common.money import MAX_MICROS, Micros, format_usd


class Floor(Enum):
    """How far a negative entry on `allocated` may take it."""

    ZERO = "zero"  # never below zero
    COMMITTED = "committed"  # never below what is spent and held
    NONE = "none"  # the caller has already bounded the amount (an expiry, under its lock)


def total_column(kind: str) -> str:
    """Usage moves `spent`; every other kind moves `allocated`."""
    return "spent_micros" if kind in SPENT_KINDS else "allocated_micros"


def amount_check(amount_micros: int, *, positive: bool) -> None:
    if not isinstance(amount_micros, int) or isinstance(amount_micros, bool):
        raise AllotError("An amount must be a whole number of micro-dollars.", field="amount")
    if positive and amount_micros <= 0:
        raise AllotError("The amount must be more than zero.", field="amount")
    if amount_micros == 0:
        raise AllotError("An entry of zero changes nothing.", field="amount")
    if abs(amount_micros) > MAX_MICROS:
        raise AllotError(
            "The amount is larger than any single entry Allot accepts.", field="amount"
        )


def entry_replayed(idempotency_key: str | None, **expected) -> LedgerEntry | None:
    """The entry already posted under this key, if any; reusing a key for another request is an
    error."""
    if not idempotency_key:
        return None
    entry = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    if entry is None:
        return None
    for field, value in expected.items():
        if getattr(entry, field) != value:
            raise AllotError(
                f"The key {idempotency_key!r} was already used for a different entry.",
                field="idempotency_key",
                code="conflict",
            )
    return entry


def entry_post(
    *,
    budget: Budget,
    kind: str,
    amount_micros: Micros,
    acting_user: AbstractBaseUser | None,
    memo: str = "",
    idempotency_key: str | None = None,
    floor: Floor = Floor.ZERO,
    counterpart: LedgerEntry | None = None,
    rollover_run: RolloverRun | None = None,
) -> LedgerEntry:
    """Append one entry and move the budget's running total by the same amount, atomically.

    A negative entry on `allocated` never takes it below its floor: the guard is in the UPDATE's
    WHERE clause, so two concurrent debits cannot both pass it."""
    column = total_column(kind)
    with transaction.atomic():
        rows = Budget.objects.filter(pk=budget.pk)
        if amount_micros < 0 and column == "allocated_micros" and floor is not Floor.NONE:
            least = F("spent_micros") + F("reserved_micros") if floor is Floor.COMMITTED else 0
            rows = rows.filter(allocated_micros__gte=least - amount_micros)
        if rows.update(**{column: F(column) + amount_micros}) != 1:
            raise AllotError(
                f"{budget} cannot give {format_usd(-amount_micros)}: "
                "that is more than it has left.",
                field="amount",
                code="insufficient",
            )
        return LedgerEntry.objects.create(
            budget=budget,
            kind=kind,
            amount_micros=amount_micros,
            acting_user=acting_user,
            memo=memo[:500],
            idempotency_key=idempotency_key,
            counterpart=counterpart,
            rollover_run=rollover_run,
        )


def entry_post_once(
    *, idempotency_key: str | None, budget: Budget, kind: str, amount_micros: Micros, **options
) -> tuple[LedgerEntry, bool]:
    """Post unless the key was already used; a concurrent twin loses on the unique key.
    Returns the entry and whether this call posted it."""
    existing = entry_replayed(
        idempotency_key, budget_id=budget.pk, kind=kind, amount_micros=amount_micros
    )
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            entry = entry_post(
                budget=budget,
                kind=kind,
                amount_micros=amount_micros,
                idempotency_key=idempotency_key,
                **options,
            )
    except IntegrityError:
        existing = entry_replayed(
            idempotency_key, budget_id=budget.pk, kind=kind, amount_micros=amount_micros
        )
        if existing is None:
            raise
        return existing, False
    return entry, True


def reserved_add(*, budget: Budget, amount_micros: Micros) -> None:
    """Hold (positive) or give back (negative) part of a budget for a call in flight; the caller
    holds the budget's lock and has checked the limit under it."""
    Budget.objects.filter(pk=budget.pk).update(reserved_micros=F("reserved_micros") + amount_micros)
    budget.reserved_micros += amount_micros
