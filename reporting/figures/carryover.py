"""Money carried over from last year and still owed (the liability), and what left the budgets
as forfeitures, expiries and carryover out."""

from django.db.models import Count, Sum

from budgets.models import Budget, EntryKind, LedgerEntry
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


def closed_years_overspend_table(*, fiscal_year: int) -> dict | None:
    """Closed years' budgets spent beyond their allocation: soft budgets' overruns, and usage
    reported after the close that neither the forfeiture nor the carry-over could pay (that
    rest stays the closed year's, never a negative budget of the new year). With what late usage
    took back from each close. None when no earlier year has any of it."""
    overspent = {
        year: (count, total)
        for year, count, total in Budget.objects.filter(
            fiscal_year__lt=fiscal_year, remaining_micros__lt=0
        )
        .values_list("fiscal_year")
        .annotate(count=Count("pk"), total=Sum("remaining_micros"))
        .values_list("fiscal_year", "count", "total")
    }
    taken_back: dict[tuple[int, str], int] = {}
    late = LedgerEntry.objects.filter(
        budget__fiscal_year__lt=fiscal_year,
        kind__in=[EntryKind.FORFEITURE, EntryKind.CARRYOVER_OUT],
        idempotency_key__startswith="late-usage:",
    )
    for year, kind, amount in (
        late.values_list("budget__fiscal_year", "kind")
        .annotate(amount=Sum("amount_micros"))
        .values_list("budget__fiscal_year", "kind", "amount")
    ):
        taken_back[(year, kind)] = amount
    years = sorted({*overspent, *(year for year, _ in taken_back)})
    if not years:
        return None
    rows = [
        [
            f"FY{year}",
            overspent.get(year, (0, 0))[0],
            -overspent.get(year, (0, 0))[1],
            taken_back.get((year, EntryKind.FORFEITURE), 0),
            taken_back.get((year, EntryKind.CARRYOVER_OUT), 0),
        ]
        for year in years
    ]
    return table(
        "closed_years_overspend",
        "Closed years: overspend and late usage",
        "carryover",
        [
            ("Fiscal year", "text"),
            ("Budgets spent beyond allocation", "count"),
            ("Overspend", "money"),
            ("Late usage paid from the forfeiture", "money"),
            ("Late usage paid from the carry-over", "money"),
        ],
        rows,
        total=["Total", *(sum(row[i] for row in rows) for i in range(1, 5))],
        note="Usage reported after a year's close is charged to that year: first from what it "
        "forfeited, then from what it carried over (as far as the new year has not spent it); "
        "the rest is the overspend here, with soft budgets' overruns. As of the report's build.",
    )
