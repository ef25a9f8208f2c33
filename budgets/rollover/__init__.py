"""The annual rollover: close one fiscal year into the next, previewable and exactly once.

`plan` says what happens to each owner (pure: rows in, plans out), `preview` reads the owners
and sums their plans, `commit` applies them in chunks, `expiry` takes back unspent carried-over
money, `holds` gives back holds past their time and forfeits what holds free on a closed
year after its close, `schedule` is the daily start, `admin` the pages.
"""

from budgets.rollover.commit import (
    rollover_confirm,
    rollover_enqueue,
    rollover_execute,
    rollover_year_open_error,
    user_may_confirm_rollover,
)
from budgets.rollover.expiry import carryover_expire_due, carryover_expiry_late_usage
from budgets.rollover.holds import (
    FreedHold,
    closed_by_rollover,
    freed_holds_forfeit,
    hold_forfeitures_post,
    reservations_release_expired,
    run_hold_forfeited_micros,
)
from budgets.rollover.late import LateSettlement, LateUsage, late_usage_settle
from budgets.rollover.plan import CHUNK_SIZE
from budgets.rollover.preview import (
    rollover_context,
    rollover_plans,
    rollover_preview,
    rollover_preview_rows,
    run_context,
)
from budgets.rollover.schedule import rollover_scheduled_step, rollovers_resume

__all__ = [
    "CHUNK_SIZE",
    "FreedHold",
    "LateSettlement",
    "LateUsage",
    "carryover_expire_due",
    "late_usage_settle",
    "carryover_expiry_late_usage",
    "closed_by_rollover",
    "freed_holds_forfeit",
    "hold_forfeitures_post",
    "rollover_confirm",
    "rollover_context",
    "rollover_enqueue",
    "rollover_execute",
    "rollover_plans",
    "rollover_preview",
    "rollover_preview_rows",
    "rollover_scheduled_step",
    "rollovers_resume",
    "reservations_release_expired",
    "run_context",
    "run_hold_forfeited_micros",
    "rollover_year_open_error",
    "user_may_confirm_rollover",
]
