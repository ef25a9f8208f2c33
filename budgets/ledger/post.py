"""One entry at a time: the locked, conditional, idempotent post.

An entry and the move of its budget's running total happen in one transaction; a limit is
checked and committed in one conditional UPDATE, never read-then-write.
"""

from enum import Enum
from functools import cache

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    BigIntegerField,
    CharField,
    DateTimeField,
    Exists,
    F,
    ForeignKey,
    IntegerField,
    UUIDField,
)
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from budgets.ledger.periods import closed_months, posting
from budgets.models import SPENT_KINDS, Budget, LedgerEntry, Reservation, RolloverRun
from common.errors import AllotError
from common.money import MAX_MICROS, Micros, format_usd
from common.rawsql import execute_prepared


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
        now = timezone.now()
        return LedgerEntry.objects.create(
            budget=budget,
            created_at=now,
            **posting(now, closed_months())._asdict(),
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


def reserved_hold(*, budget: Budget, reservation: Reservation, limit_micros: Micros | None) -> bool:
    """Hold `reservation.amount_micros` of a budget for a call in flight, and record the hold,
    without a lock: the check and the hold are one conditional UPDATE.

    The UPDATE applies only while the budget's rules and allocation are still those the caller
    read (so `limit_micros` still holds) and, unless `limit_micros` is None, while spent +
    reserved + the amount stays within it. On PostgreSQL it applies only while no other
    transaction holds the row (SKIP LOCKED): it never waits on a lock, and a budget busy with
    another write (a concurrent hold, an ingest, a rollover) is left to the caller's locked
    path, so N concurrent holds still admit exactly as many as fit. On PostgreSQL the
    reservation's INSERT rides in the same statement (a data-modifying WITH), so a hold and its
    reservation are written together or not at all, in one round trip and no transaction of
    ours. Elsewhere the two run in one transaction.

    A reservation with a request id already used (by `source`) holds nothing: False, or
    IntegrityError when its twin is being written at this very moment.

    Returns whether it held; then `budget` carries the row's new spent and reserved totals and
    `reservation` is saved. False: nothing was written (the caller decides again, under lock)."""
    if connection.vendor != "postgresql":
        return _hold_orm(budget, reservation, limit_micros)
    if reservation.request_id and connection.in_atomic_block:
        # A twin racing this call fails on the unique request id: in the caller's transaction
        # that needs a savepoint to be survivable. In autocommit the failed statement is all.
        with transaction.atomic():
            held = _hold_statement(budget, reservation, limit_micros)
    else:
        held = _hold_statement(budget, reservation, limit_micros)
    if held is None:
        return False
    budget.spent_micros, budget.reserved_micros = held
    reservation._state.adding = False
    reservation._state.db = connection.alias
    return True


def _hold_orm(budget: Budget, reservation: Reservation, limit_micros: Micros | None) -> bool:
    """The hold through the ORM, in one transaction: for databases without a data-modifying
    WITH. The same condition as `_hold_sql`'s, which tests/budgets run on both databases."""
    amount = reservation.amount_micros
    rows = Budget.objects.filter(
        pk=budget.pk,
        allocated_micros=budget.allocated_micros,
        enforcement=budget.enforcement,
        overdraft_percent=budget.overdraft_percent,
    )
    if limit_micros is not None:
        committed = F("spent_micros") + F("reserved_micros") + amount
        rows = rows.filter(LessThanOrEqual(committed, limit_micros))
    if reservation.request_id:  # a retry holds nothing here; the caller answers it under lock
        twin = Reservation.objects.filter(
            source=reservation.source, request_id=reservation.request_id
        )
        rows = rows.filter(~Exists(twin))
    with transaction.atomic():
        if rows.update(reserved_micros=F("reserved_micros") + amount) != 1:
            return False
        reservation.save(force_insert=True)
        budget.spent_micros, budget.reserved_micros = Budget.objects.filter(
            pk=budget.pk
        ).values_list("spent_micros", "reserved_micros")[0]
    return True


def _hold_statement(
    budget: Budget, reservation: Reservation, limit_micros: Micros | None
) -> tuple[int, int] | None:
    """PostgreSQL: the budget's new (spent, reserved) when it held, else None. The statement is
    built once per shape (with a limit or not, with a request id or not) and kept: on the
    gateway's hot path the ORM's compiling of the same WHERE clause was a third of the call."""
    has_limit, has_request_id = limit_micros is not None, bool(reservation.request_id)
    sql, fields = _hold_sql(has_limit, has_request_id)
    params = [
        reservation.amount_micros,
        budget.pk,
        budget.allocated_micros,
        budget.enforcement,
        budget.overdraft_percent,
    ]
    if has_limit:
        params += [reservation.amount_micros, limit_micros]
    if has_request_id:
        params += [reservation.source, reservation.request_id]
    params += [
        getattr(reservation, f.attname)
        if plain
        else f.get_db_prep_save(f.pre_save(reservation, add=True), connection)
        for f, plain in fields
    ]
    found = execute_prepared(sql, params)
    return (found[0][0], found[0][1]) if found else None


@cache
def _hold_sql(has_limit: bool, has_request_id: bool) -> tuple[str, list]:
    """`WITH held AS (UPDATE the budget WHERE no one else holds its row AND its rules are still
    those read [AND the amount fits] [AND the request id is unused] RETURNING ...), booked AS
    (INSERT the reservation SELECT ... FROM held) SELECT ... FROM held`."""
    quote = connection.ops.quote_name
    fields = Reservation._meta.concrete_fields
    columns = ", ".join(quote(f.column) for f in fields)
    # Typed as their columns (a NULL needs it), text as text: a cast to varchar(n) would cut
    # a value too long rather than refuse it.
    values = ", ".join(
        "%s::text" if isinstance(f, CharField) else f"%s::{f.db_type(connection)}" for f in fields
    )
    budgets, reservations = quote(Budget._meta.db_table), quote(Reservation._meta.db_table)
    # The row only when no other transaction holds it (SKIP LOCKED): a budget locked by an
    # ingest or a rollover is left to the caller's locked path, whose waits are bounded; the
    # hot path itself never waits on a lock.
    where = (
        f"id IN (SELECT id FROM {budgets} WHERE id = %s FOR UPDATE SKIP LOCKED) "  # nosec B608  # noqa: S608
        "AND allocated_micros = %s AND enforcement = %s AND overdraft_percent = %s"
    )
    if has_limit:
        where += " AND spent_micros + reserved_micros + %s <= %s"
    if has_request_id:
        where += (
            f" AND NOT EXISTS (SELECT 1 FROM {reservations} r "  # nosec B608  # noqa: S608
            "WHERE r.source = %s AND r.request_id = %s)"
        )
    sql = (
        f"WITH held AS (UPDATE {budgets} SET reserved_micros = reserved_micros + %s "  # nosec B608  # noqa: S608
        f"WHERE {where} RETURNING spent_micros, reserved_micros), "
        f"booked AS (INSERT INTO {reservations} ({columns}) SELECT {values} FROM held) "
        "SELECT spent_micros, reserved_micros FROM held"
    )
    return sql, [(f, _as_is_on_postgres(f)) for f in fields]


# Fields whose value psycopg takes as it is on PostgreSQL (Django's preparing returns it
# unchanged there): exact classes only, a subclass may prepare its value its own way.
AS_IS_ON_POSTGRES = {UUIDField, ForeignKey, CharField, BigIntegerField, IntegerField, DateTimeField}


def _as_is_on_postgres(field) -> bool:
    """Whether the hold may pass the instance's value itself; preparing ten values through the
    ORM was a fifth of the hold's own work."""
    if type(field) not in AS_IS_ON_POSTGRES:
        return False
    return not (getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))
