"""The ledger kernel: the one place where money moves.

Every write of a ledger entry, of a budget's stored totals (allocated, spent, reserved, carried
over), of the daily spend rollup, and every new budget goes through this package; a test fails
the build if anything else writes them (tests/test_code_shape.py).

- `post`: one entry at a time, locked and conditional, idempotent by key (`entry_post`,
  `entry_post_once`), and holds on a budget (`reserved_add` under the caller's lock,
  `reserved_hold` as one conditional statement with its reservation);
- `bulk`: the same moves for thousands of rows under locks the caller holds (COPY, unnest);
- `opening`: an owner's budget for a year, with the year before's rules;
- `keys`: every idempotency key and owner key;
- `periods`: the accounting month an entry is posted in (a closed month takes no entries).
"""

from budgets.ledger import keys
from budgets.ledger.bulk import (
    DaySpend,
    EntryRow,
    TotalsMove,
    copy_rows,
    daily_spend_add,
    entries_copy,
    entries_load,
    reserved_release,
    totals_add,
    totals_set,
)
from budgets.ledger.opening import Owner, budget_create, budgets_open, rules_of_year_before
from budgets.ledger.periods import (
    Posting,
    closed_months,
    closed_months_lock,
    month_of,
    next_month,
    posting,
)
from budgets.ledger.post import (
    Floor,
    amount_check,
    entry_post,
    entry_post_once,
    entry_replayed,
    reserved_add,
    reserved_hold,
    total_column,
)

__all__ = [
    "DaySpend",
    "EntryRow",
    "Floor",
    "Owner",
    "Posting",
    "TotalsMove",
    "amount_check",
    "keys",
    "month_of",
    "next_month",
    "posting",
    "budget_create",
    "budgets_open",
    "closed_months",
    "closed_months_lock",
    "copy_rows",
    "daily_spend_add",
    "entries_copy",
    "entries_load",
    "entry_post",
    "entry_post_once",
    "entry_replayed",
    "reserved_add",
    "reserved_hold",
    "reserved_release",
    "rules_of_year_before",
    "total_column",
    "totals_add",
    "totals_set",
]
