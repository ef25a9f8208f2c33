"""Reconciliation with the providers' invoices: per provider and month of the quarter, the cost
reports' total against what Allot recorded from the same provider's usage (connectors), the gap
in dollars and percent, what is held unassigned, and how many days were over the limit."""

from collections import defaultdict
from datetime import date

from connectors.costs import ReconciledDay
from reporting.figures.period import ReportPeriod
from reporting.figures.tables import pct, table


def reconciliation_table(period: ReportPeriod, days: list[ReconciledDay]) -> dict:
    """`days`: the reconciled cost days of the quarter up to the cutoff (UTC days)."""
    sums: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for day in days:
        key = (str(day.day_row.connection), day.day_row.day.replace(day=1))
        sums[key][0] += day.provider_micros
        sums[key][1] += day.recorded_micros
        sums[key][2] += day.held_micros
        sums[key][3] += int(day.over_threshold)
    rows = [
        [provider, month.strftime("%b %Y"), cost, recorded, held, recorded - cost]
        + [pct(recorded - cost, cost), over]
        for (provider, month), (cost, recorded, held, over) in sorted(sums.items())
    ]
    cost, recorded = sum(r[2] for r in rows), sum(r[3] for r in rows)
    return table(
        "reconciliation",
        "Reconciliation with the providers' cost reports",
        "reconciliation",
        [
            ("Provider", "text"),
            ("Month", "text"),
            ("Provider's cost", "money"),
            ("Recorded by Allot", "money"),
            ("Held (unassigned)", "money"),
            ("Gap", "money"),
            ("Gap %", "percent"),
            ("Days over the limit", "count"),
        ],
        rows,
        total=[
            "Quarter",
            "",
            cost,
            recorded,
            sum(r[4] for r in rows),
            recorded - cost,
            pct(recorded - cost, cost),
            sum(r[7] for r in rows),
        ],
        note="UTC days, as the providers report them. Recorded: the connectors' usage buckets "
        "posted for those days; held: those waiting for an identity mapping. A gap is "
        f"flagged above each connection's limit; through {period.cutoff:%d %b %Y}.",
    )
