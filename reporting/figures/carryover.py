"""Money carried over from last year and still owed (the liability), and what left the budgets
as forfeitures, expiries and carryover out."""

from budgets.models import EntryKind
from reporting import calculations as calc
from reporting.figures.inputs import ReportInputs
from reporting.figures.tables import table


def carryover_table(inputs: ReportInputs) -> dict:
    year_by_budget = inputs.spend.year_by_budget
    carried = expired = spent_from = unspent = budgets_with = 0
    for budget_id, entry in inputs.ledger.items():
        carried_in = entry.get(EntryKind.CARRYOVER_IN, 0)
        if not carried_in:
            continue
        budgets_with += 1
        expired_here = -entry.get(EntryKind.EXPIRY, 0)
        left = calc.carryover_unspent(
            carried_in_micros=carried_in,
            expired_micros=expired_here,
            spent_micros=year_by_budget.get(budget_id, 0),
        )
        carried += carried_in
        expired += expired_here
        unspent += left
        spent_from += carried_in - expired_here - left
    return table(
        "carryover",
        "Carryover liability",
        "carryover",
        [("", "text"), ("Amount", "row")],
        [
            ["Budgets holding carried-over money", budgets_with],
            ["Carried in from last year", carried],
            ["Expired", -expired],
            ["Spent from carried-over money", -spent_from],
            ["Liability: carried over and still unspent", unspent],
        ],
        row_kinds=["count", "money", "money", "money", "money"],
        note="Carried-over money is drawn first (it is the money that expires). The liability "
        "is what engineers may still spend of it.",
    )


def forfeitures_table(inputs: ReportInputs) -> dict:
    rows = []
    total = [0, 0, 0, 0]
    for kind in (EntryKind.FORFEITURE, EntryKind.EXPIRY, EntryKind.CARRYOVER_OUT):
        q_count, q_amount = inputs.posted_quarter.get(kind, (0, 0))
        y_count, y_amount = inputs.posted_year.get(kind, (0, 0))
        # Entries take money out (negative); the table shows what left the budgets.
        rows.append([EntryKind(kind).label, q_count, -q_amount, y_count, -y_amount])
        total = [total[0] + q_count, total[1] - q_amount, total[2] + y_count, total[3] - y_amount]
    return table(
        "forfeitures",
        "Forfeitures, expiries and carryover out",
        "carryover",
        [
            ("", "text"),
            ("Entries (quarter)", "count"),
            ("Amount (quarter)", "money"),
            ("Entries (year to date)", "count"),
            ("Amount (year to date)", "money"),
        ],
        rows,
        total=["Total", *total],
        note="Ledger entries posted in the period, on any fiscal year's budgets.",
    )
