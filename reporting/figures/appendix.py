"""The appendix: every budget of the fiscal year, what it was given and what it spent."""

from reporting.figures.inputs import ReportInputs
from reporting.figures.tables import pct, table


def appendix_table(inputs: ReportInputs) -> dict:
    spend = inputs.spend
    rows = []
    for budget_id in inputs.org.budgets:
        kind, owner = inputs.labels[budget_id]
        allocated = spend.allocated_by_budget[budget_id]
        spent = spend.year_by_budget.get(budget_id, 0)
        rows.append([owner, kind, allocated, spent, allocated - spent, pct(spent, allocated)])
    rows.sort(key=lambda row: (row[1], row[0].lower()))
    allocated_total = sum(r[2] for r in rows)
    spent_total = sum(r[3] for r in rows)
    return table(
        "appendix",
        "Appendix: every budget",
        "appendix",
        [
            ("Budget", "text"),
            ("Kind", "text"),
            ("Allocated", "money"),
            ("Spent to date", "money"),
            ("Remaining", "money"),
            ("Used", "percent"),
        ],
        rows,
        total=[
            "Total",
            "",
            allocated_total,
            spent_total,
            allocated_total - spent_total,
            pct(spent_total, allocated_total),
        ],
    )
