"""The sentence an allowed authorize call answers with (pure: no database).

"Within budget." only while the call fits in the money allocated; a soft budget that lets a call
through past it, or an overdraft that pays for it, says so, beside the warning that gives the
percentage. Called by `budgets/authorize.py`; kept apart so the endpoint's code can change
around it.
"""

from common.money import Micros

WITHIN_BUDGET = "Within budget."
OVER_SOFT_BUDGET = "Allowed over budget: this budget's limit is soft (it warns, it does not stop)."
IN_OVERDRAFT = "Allowed within the overdraft: the budget itself is used up."


def allowed_reason(*, enforcement: str, remaining_micros: Micros) -> str:
    """The reason of an allowed call, from what is left after it (negative: past the allocation).

    `enforcement` is an Enforcement value ("hard", "soft", "hard_overdraft")."""
    if remaining_micros >= 0:
        return WITHIN_BUDGET
    if enforcement == "hard_overdraft":
        return IN_OVERDRAFT
    return OVER_SOFT_BUDGET
