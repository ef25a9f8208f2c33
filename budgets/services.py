"""Writes that move money. Each is atomic, takes who acted, and is safe to replay by its key.

A ledger entry and the move of its budget's running total happen in one transaction; a limit is
checked and committed in one conditional UPDATE, never read-then-write.
"""

from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F

from budgets.calculations import prorate_micros
from budgets.models import (
    SPENT_KINDS,
    Budget,
    EntryKind,
    LedgerEntry,
)
from common.errors import AllotError
from common.money import MAX_MICROS, Micros, format_usd
from people.models import Employee, Project, Team
from people.selectors import fiscal_year_period

User = AbstractBaseUser


def _total_column(kind: str) -> str:
    return "spent_micros" if kind in SPENT_KINDS else "allocated_micros"


def _check_amount(amount_micros: int, *, positive: bool) -> None:
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


def _replayed(idempotency_key: str | None, **expected) -> LedgerEntry | None:
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


def _ledger_post(
    *,
    budget: Budget,
    kind: str,
    amount_micros: Micros,
    acting_user: User | None,
    memo: str = "",
    idempotency_key: str | None = None,
    keep_allocated_at_least_spent: bool = False,
    counterpart: LedgerEntry | None = None,
) -> LedgerEntry:
    """Append one entry and move the budget's running total by the same amount, atomically.

    A negative entry on `allocated` never takes it below zero (or below what is spent, when asked):
    the guard is in the UPDATE's WHERE clause, so two concurrent debits cannot both pass it.
    """
    column = _total_column(kind)
    with transaction.atomic():
        rows = Budget.objects.filter(pk=budget.pk)
        if amount_micros < 0 and column == "allocated_micros":
            floor = F("spent_micros") + F("reserved_micros") if keep_allocated_at_least_spent else 0
            rows = rows.filter(allocated_micros__gte=floor - amount_micros)
        if rows.update(**{column: F(column) + amount_micros}) != 1:
            raise AllotError(
                f"{budget} cannot give {format_usd(-amount_micros)}: "
                "that is more than it has left.",
                field="amount",
                code="insufficient",
            )
        entry = LedgerEntry.objects.create(
            budget=budget,
            kind=kind,
            amount_micros=amount_micros,
            acting_user=acting_user,
            memo=memo[:500],
            idempotency_key=idempotency_key,
            counterpart=counterpart,
        )
    return entry


def _post_once(*, idempotency_key: str | None, budget: Budget, kind: str, amount_micros, **kw):
    """Post unless the key was already used; a concurrent twin loses on the unique key."""
    existing = _replayed(
        idempotency_key, budget_id=budget.pk, kind=kind, amount_micros=amount_micros
    )
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            entry = _ledger_post(
                budget=budget,
                kind=kind,
                amount_micros=amount_micros,
                idempotency_key=idempotency_key,
                **kw,
            )
    except IntegrityError:
        existing = _replayed(
            idempotency_key, budget_id=budget.pk, kind=kind, amount_micros=amount_micros
        )
        if existing is None:
            raise
        return existing, False
    return entry, True


def budget_create(
    *,
    fiscal_year: int,
    employee: Employee | None = None,
    team: Team | None = None,
    project: Project | None = None,
    enforcement: str | None = None,
    acting_user: User | None = None,
) -> tuple[Budget, bool]:
    """The owner's budget for a year, created if missing (one per owner per year, by constraint).

    A new budget takes the owner's rules of the year before (enforcement, overdraft, alert
    thresholds), as the rollover would: whoever opens a year first (HR's allocation, an approved
    increase, usage) must not turn a hard limit soft, since the rollover keeps the budget it
    finds. `enforcement`, when given, wins; with no year before, soft."""
    owners = {"employee": employee, "team": team, "project": project}
    if sum(owner is not None for owner in owners.values()) != 1:
        raise AllotError("A budget has exactly one owner: an employee, a team or a project.")
    lookup = {name: owner for name, owner in owners.items() if owner is not None}
    existing = Budget.objects.filter(fiscal_year=fiscal_year, **lookup).first()
    if existing is not None:
        return existing, False
    rules = (
        Budget.objects.filter(fiscal_year=fiscal_year - 1, **lookup).values(*Budget.RULES).first()
        or {}
    )
    if enforcement is not None:
        rules["enforcement"] = enforcement
    try:
        with transaction.atomic():
            return Budget.objects.get_or_create(fiscal_year=fiscal_year, **lookup, defaults=rules)
    except IntegrityError:
        return Budget.objects.get(fiscal_year=fiscal_year, **lookup), False


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
    _check_amount(amount_micros, positive=True)
    entry, _ = _post_once(
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
    _check_amount(amount_micros, positive=False)
    if not memo.strip():
        raise AllotError("Say why the budget is adjusted.", field="memo")
    entry, _ = _post_once(
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
    _check_amount(amount_micros, positive=True)
    if source.pk == destination.pk:
        raise AllotError("A transfer needs two different budgets.", field="destination")
    if source.fiscal_year != destination.fiscal_year:
        raise AllotError("Transfers stay within one fiscal year.", field="destination")
    out_key = f"{idempotency_key}:out" if idempotency_key else None
    in_key = f"{idempotency_key}:in" if idempotency_key else None
    replay = _replayed(
        out_key, budget_id=source.pk, kind=EntryKind.TRANSFER_OUT, amount_micros=-amount_micros
    )
    if replay:
        return replay, LedgerEntry.objects.get(idempotency_key=in_key)
    # Lock both rows in id order so two opposite transfers cannot deadlock.
    list(
        Budget.objects.select_for_update().filter(pk__in=[source.pk, destination.pk]).order_by("pk")
    )
    out_entry = _ledger_post(
        budget=source,
        kind=EntryKind.TRANSFER_OUT,
        amount_micros=-amount_micros,
        acting_user=acting_user,
        memo=memo,
        idempotency_key=out_key,
        keep_allocated_at_least_spent=True,
    )
    in_entry = _ledger_post(
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
    return level_allocation_key_for_id(employee_id=employee.pk, fiscal_year=fiscal_year)


def level_allocation_key_for_id(*, employee_id: int, fiscal_year: int) -> str:
    """The allocation's idempotency key: once per employee per year, whoever posts it (HR, an
    accepted offer, the rollover)."""
    return f"level-allocation:employee:{employee_id}:fy:{fiscal_year}"


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
    entry, created = _post_once(
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
