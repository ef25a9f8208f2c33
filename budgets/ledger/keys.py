"""Every idempotency key and owner key, built in one place.

A key names the one request an entry answers: posting again under it changes nothing, so each
writer must build it the same way whoever calls it (HR, an accepted offer, the rollover, a retry).
"""

import hashlib
import uuid
from datetime import date

from budgets.models import OwnerKind


def owner_key(kind: str, owner_id: int) -> str:
    """An owner across years: "employee:7", "team:3", "project:12"."""
    return f"{OwnerKind(kind).value}:{owner_id}"


def owner_key_of_row(row: dict) -> str:
    """The owner key of a budget row read with employee_id, team_id and project_id."""
    if row["employee_id"]:
        return owner_key(OwnerKind.EMPLOYEE, row["employee_id"])
    if row["team_id"]:
        return owner_key(OwnerKind.TEAM, row["team_id"])
    return owner_key(OwnerKind.PROJECT, row["project_id"])


def level_allocation_key(*, employee_id: int, fiscal_year: int) -> str:
    """Once per employee per year, whoever posts it (HR, an accepted offer, the rollover)."""
    return f"level-allocation:employee:{employee_id}:fy:{fiscal_year}"


def standing_allocation_key(*, owner_key: str, fiscal_year: int) -> str:
    """Once per team pool or project per year: its standing annual amount, by the rollover."""
    return f"standing-allocation:{owner_key}:fy:{fiscal_year}"


def demo_allocation_key(*, owner_kind: str, owner_name: str, fiscal_year: int) -> str:
    return f"demo-allocation:{owner_kind}:{owner_name}:fy:{fiscal_year}"


def approval_request_key(request_id: int) -> str:
    """What a final approval posts, once per request."""
    return f"approval-request:{request_id}"


def level_change_key(
    *, employee_id: int, old_level_id: int, new_level_id: int, effective: date
) -> str:
    """A level change posted by the automatic policy: once per person, move and day it applies
    from (a change through approval posts under its request's key)."""
    return (
        f"level-change:employee:{employee_id}:level:{old_level_id}-{new_level_id}"
        f":from:{effective:%Y-%m-%d}"
    )


def transfer_keys(key: str | None) -> tuple[str | None, str | None]:
    """A transfer's two entries under one caller's key: (out, in)."""
    if not key:
        return None, None
    return f"{key}:out", f"{key}:in"


def hold_forfeiture_key(reservation_id: uuid.UUID) -> str:
    """A hold freed after its year closed is forfeited once, however often it is released."""
    return f"hold-forfeiture:reservation:{reservation_id}"


def carryover_expiry_key(budget_id: int) -> str:
    return f"carryover-expiry:budget:{budget_id}"


def carryover_expiry_late_key(budget_id: int, entries_before: int) -> str:
    """Each give-back after the expiry is keyed by how many expiry entries came before it."""
    return f"{carryover_expiry_key(budget_id)}:late:{entries_before}"


def price_correction_key(*, correction_id: int, budget_id: int) -> str:
    return f"price-correction:{correction_id}:budget:{budget_id}"


def leaver_forfeiture_key(*, budget_id: int, last_day: date) -> str:
    """A leaver's unused money goes once per leaving (a rehire who leaves again has a new day)."""
    return f"leaver-forfeiture:budget:{budget_id}:left:{last_day:%Y-%m-%d}"


def late_usage_key(*, kind: str, budget_id: int, event_keys: list[str]) -> str:
    """Late usage on a closed year: one entry of each kind per budget per set of events (the
    events are stored once, so the same events never settle twice)."""
    digest = hashlib.sha256("\n".join(sorted(event_keys)).encode()).hexdigest()[:32]
    return f"late-usage:{kind}:budget:{budget_id}:{digest}"
