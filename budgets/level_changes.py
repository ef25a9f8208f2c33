"""What a new level does to this year's personal budget: the difference between the annual
amounts, prorated from the day it applies (as a permanent increase is, and not before the hire
date), posted as one LEVEL_CHANGE entry. A decrease never takes the budget below what is spent
and held: it is capped there, and the share says so. Read by the preview, posted by the
automatic policy and by an approved level-change request."""

from dataclasses import dataclass
from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from budgets.calculations import prorate_micros
from budgets.ledger import Floor, budget_create, entry_post_once, keys
from budgets.models import Budget, EntryKind, LedgerEntry
from common.money import Micros, format_usd
from people.models import Employee
from people.selectors import current_fiscal_year, fiscal_year_of, fiscal_year_period


@dataclass(frozen=True)
class LevelChangeShare:
    """This year's part of a level change: `share_micros` the prorated difference (signed),
    `amount_micros` what posts (a decrease capped at what the budget has unspent and unheld),
    `note` why it is less than the share or nothing."""

    fiscal_year: int
    share_micros: Micros
    amount_micros: Micros
    note: str = ""

    @property
    def capped(self) -> bool:
        return self.amount_micros != self.share_micros


def _prorated(annual_difference_micros: Micros, *, employee: Employee, effective: date) -> Micros:
    """The signed difference prorated from the day it applies in its own fiscal year."""
    size = prorate_micros(
        abs(annual_difference_micros),
        start=max(effective, employee.hire_date),
        period=fiscal_year_period(fiscal_year_of(effective)),
    )
    return size if annual_difference_micros >= 0 else -size


def _capped(share_micros: Micros, budget: Budget | None) -> tuple[Micros, str]:
    """A decrease as far as the budget has unspent and unheld money; an increase as it is."""
    if share_micros >= 0:
        return share_micros, ""
    free = 0 if budget is None else max(budget.remaining_micros, 0)
    if -share_micros <= free:
        return share_micros, ""
    return -free, (
        f"capped at {format_usd(free)}, what the budget has left unspent and unheld, "
        f"instead of {format_usd(-share_micros)}"
    )


def level_change_share(
    *, employee: Employee, annual_difference_micros: Micros, effective: date
) -> LevelChangeShare:
    """What a level change from `effective` would post now (nothing for a day in a later
    fiscal year, or before this year's allocation is made: that allocation, and the rollover,
    start from the new level)."""
    year = fiscal_year_of(effective)
    if year > current_fiscal_year():
        return LevelChangeShare(year, 0, 0, f"it applies from FY{year}, whose allocation uses it")
    allocated = LedgerEntry.objects.filter(
        idempotency_key=keys.level_allocation_key(employee_id=employee.pk, fiscal_year=year)
    ).exists()
    if not allocated:
        return LevelChangeShare(
            year, 0, 0, f"FY{year}'s allocation is not made yet and will use the new level"
        )
    share = _prorated(annual_difference_micros, employee=employee, effective=effective)
    budget = Budget.objects.filter(employee=employee, fiscal_year=year).first()
    amount, note = _capped(share, budget)
    return LevelChangeShare(year, share, amount, note)


@transaction.atomic
def budget_level_change(
    *,
    employee: Employee,
    share_micros: Micros,
    fiscal_year: int,
    acting_user: AbstractBaseUser | None,
    memo: str,
    idempotency_key: str,
) -> LevelChangeShare:
    """Post a level change's share on the person's budget of that year, once per key. The cap
    of a decrease is read under the budget's lock, and the entry's floor holds it besides."""
    replay = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    if replay is not None:
        return LevelChangeShare(fiscal_year, share_micros, replay.amount_micros, "posted before")
    budget = (
        Budget.objects.select_for_update()
        .filter(employee=employee, fiscal_year=fiscal_year)
        .first()
    )
    if budget is None and share_micros > 0:
        budget, _ = budget_create(
            fiscal_year=fiscal_year, employee=employee, acting_user=acting_user
        )
    amount, note = _capped(share_micros, budget)
    if amount == 0:
        return LevelChangeShare(fiscal_year, share_micros, 0, note or "nothing to post")
    entry_post_once(
        idempotency_key=idempotency_key,
        budget=budget,
        kind=EntryKind.LEVEL_CHANGE,
        amount_micros=amount,
        acting_user=acting_user,
        memo=f"{memo}{f' ({note})' if note else ''}"[:500],
        floor=Floor.COMMITTED,
    )
    return LevelChangeShare(fiscal_year, share_micros, amount, note)
