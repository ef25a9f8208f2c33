"""What leaving does to a person's money, inside people.services.employee_deactivate's
transaction: their held reservations are released (a gateway's call in flight is not charged to a
budget that is closing), and the unused money of their budgets for this fiscal year and later is
forfeited. That is the rule the rollover applies to a leaver at the year's close (nothing
carries over), applied on the day they leave instead of months later."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser

from budgets.ledger import Floor, entry_post_once, keys, reserved_release
from budgets.models import Budget, EntryKind, Reservation, ReservationState
from budgets.rollover import FreedHold, freed_holds_forfeit
from common.money import format_usd
from people.models import Employee
from people.selectors import fiscal_year_of


def leaver_close(employee: Employee, acting_user: AbstractBaseUser | None, now: datetime) -> str:
    """Release the leaver's holds, then forfeit what their open budgets have left; what was done,
    as a sentence (empty when there was nothing to do)."""
    released, held_micros = _holds_release(employee, now)
    forfeited = 0
    # Locked in id order after the reservations, as ingest does: no deadlock with a batch.
    budgets = (
        Budget.objects.select_for_update()
        .filter(employee=employee, fiscal_year__gte=fiscal_year_of(employee.left_on))
        .order_by("pk")
    )
    for budget in budgets:
        unused = budget.allocated_micros - budget.spent_micros - budget.reserved_micros
        if unused <= 0:
            continue
        _, posted = entry_post_once(
            idempotency_key=keys.leaver_forfeiture_key(
                budget_id=budget.pk, last_day=employee.left_on
            ),
            budget=budget,
            kind=EntryKind.FORFEITURE,
            amount_micros=-unused,
            acting_user=acting_user,
            memo=f"{employee} left on {employee.left_on:%Y-%m-%d}: unused money forfeited.",
            floor=Floor.COMMITTED,
        )
        forfeited += unused if posted else 0
    parts = []
    if released:
        parts.append(f"{released} held reservation(s) released ({format_usd(held_micros)})")
    if forfeited:
        parts.append(f"{format_usd(forfeited)} unused forfeited")
    return "; ".join(parts)


def _holds_release(employee: Employee, now: datetime) -> tuple[int, int]:
    holds = list(
        Reservation.objects.select_for_update()
        .filter(employee=employee, state=ReservationState.HELD)
        .order_by("pk")
    )
    if not holds:
        return 0, 0
    per_budget: dict[int, int] = {}
    for hold in holds:
        per_budget[hold.budget_id] = per_budget.get(hold.budget_id, 0) + hold.amount_micros
        hold.state = ReservationState.RELEASED
        hold.closed_at = now
    Reservation.objects.bulk_update(holds, ["state", "closed_at"])
    reserved_release(per_budget)
    # A hold on a year the rollover already closed goes as expiry's would: forfeited.
    freed_holds_forfeit(
        freed=[FreedHold(h.pk, h.budget_id, h.amount_micros) for h in holds], now=now
    )
    return len(holds), sum(per_budget.values())
