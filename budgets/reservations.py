"""Giving back a hold that will not be settled: a gateway's call failed after authorize reserved
for it. The money moves through the kernel (`ledger.reserved_release`), the same move expiry
makes; a hold on a year the rollover has already closed is forfeited as it is released.

Idempotent: releasing a released hold, or one that expired (its money is already back), answers
with its final state and moves nothing. A settled hold cannot be released: usage paid for it.
"""

import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from budgets.ledger import reserved_release
from budgets.models import Reservation, ReservationState
from budgets.rollover import FreedHold, freed_holds_forfeit
from common.errors import AllotError


@transaction.atomic
def reservation_release(
    *, reservation_id: uuid.UUID | str, source: str, now: datetime | None = None
) -> Reservation:
    """Release the hold `reservation_id` made by the key of `source`; returns the reservation
    in its final state (released, or expired when expiry got there first)."""
    now = now or timezone.now()
    try:
        reservation_id = uuid.UUID(str(reservation_id))
    except ValueError:
        reservation_id = None
    # The reservation row first, then (inside reserved_release) its budget: the order usage
    # ingest and expiry lock them in, so a release racing a settlement waits, then sees it.
    reservation = (
        reservation_id
        and Reservation.objects.select_for_update(of=("self",))
        .select_related("budget")
        .filter(pk=reservation_id)
        .first()
    )
    if not reservation or (reservation.source and reservation.source != source):
        raise AllotError(
            "No such reservation for this API key.", field="reservation", code="not_found"
        )
    if reservation.state == ReservationState.SETTLED:
        raise AllotError(
            f"Reservation {reservation.pk} is already settled by a usage event; there is "
            "nothing left to release.",
            field="reservation",
            code="conflict",
        )
    if reservation.state != ReservationState.HELD:
        return reservation  # released before, or expired: its money is already back
    reservation.state = ReservationState.RELEASED
    reservation.closed_at = now
    reservation.save(update_fields=["state", "closed_at"])
    reserved_release({reservation.budget_id: reservation.amount_micros})
    freed_holds_forfeit(
        freed=[FreedHold(reservation.pk, reservation.budget_id, reservation.amount_micros)],
        now=now,
    )
    return reservation
