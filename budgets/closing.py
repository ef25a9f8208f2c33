"""Finance closes a month, and two finance users reopen one.

The `month_close` command and the admin's actions call these. A closed month takes no new
entries: the kernel posts them in the next open month, marked late (`budgets.ledger.periods`).
"""

from datetime import date, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from budgets.ledger import closed_months_lock, month_of
from budgets.models import MonthClose
from common.errors import AllotError
from people.roles import FINANCE, has_role


def month_parse(text: str) -> date:
    """'YYYY-MM' as the first day of that month; a clear error on anything else."""
    try:
        parsed = datetime.strptime(text.strip(), "%Y-%m")  # noqa: DTZ007 (a month, not a moment)
    except (ValueError, AttributeError):
        raise AllotError(f"{text!r} is not a month: give it as YYYY-MM.", field="month") from None
    return parsed.date()


def _finance_check(acting_user: AbstractBaseUser | None, what: str) -> None:
    if acting_user is not None and not has_role(acting_user, FINANCE):
        raise AllotError(f"Only finance can {what}.", code="forbidden")


def month_close_check(*, month: date, acting_user: AbstractBaseUser | None) -> None:
    """Why a month cannot be closed, as an error (forms ask before they save)."""
    _finance_check(acting_user, "close a month")
    if month.replace(day=1) >= month_of(timezone.now()):
        raise AllotError(f"{month:%Y-%m} has not ended yet; close it after.", field="month")


@transaction.atomic
def month_close(*, month: date, acting_user: AbstractBaseUser | None) -> MonthClose:
    """Close a month that has ended; closing it again changes nothing."""
    month_close_check(month=month, acting_user=acting_user)
    month = month.replace(day=1)
    closed_months_lock()
    closed, _ = MonthClose.objects.get_or_create(month=month, defaults={"closed_by": acting_user})
    return closed


@transaction.atomic
def month_reopen_request(*, month: date, acting_user: AbstractBaseUser) -> MonthClose:
    """The first of the two finance users asks for a closed month to be reopened."""
    _finance_check(acting_user, "reopen a month")
    closed = _closed(month)
    closed.reopen_requested_by = acting_user
    closed.reopen_requested_at = timezone.now()
    closed.save(update_fields=["reopen_requested_by", "reopen_requested_at"])
    return closed


@transaction.atomic
def month_reopen_confirm(*, month: date, acting_user: AbstractBaseUser) -> None:
    """A second finance user confirms: the month is open again (its history row says who)."""
    _finance_check(acting_user, "reopen a month")
    if acting_user is None:
        raise AllotError("Reopening a month needs a finance user.", code="forbidden")
    closed_months_lock()
    closed = _closed(month, lock=True)
    if closed.reopen_requested_by_id is None:
        raise AllotError(
            f"Nobody has asked to reopen {closed.month:%Y-%m}; one finance user asks, "
            "another confirms.",
            field="month",
        )
    if closed.reopen_requested_by_id == acting_user.pk:
        raise AllotError(
            "You asked to reopen this month; a second finance user must confirm it.",
            code="forbidden",
        )
    closed._change_reason = f"reopened by {acting_user}"
    closed.delete()


def _closed(month: date, *, lock: bool = False) -> MonthClose:
    rows = MonthClose.objects.select_for_update() if lock else MonthClose.objects
    found = rows.filter(month=month.replace(day=1)).first()
    if found is None:
        raise AllotError(f"{month:%Y-%m} is not closed.", field="month")
    return found
