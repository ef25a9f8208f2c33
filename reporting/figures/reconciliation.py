"""Reconciliation with the providers' invoices: per provider and month of the quarter, the cost
reports' total against what Allot recorded from the same provider's usage (connectors), the gap
in dollars and percent, what is held unassigned, and how many days were over the limit. What
Allot recorded is shown as its two parts (connectors, gateway/API) and their total; the
connectors' part says how much of it the providers' restatements of their buckets posted."""

from collections import defaultdict
from datetime import date

from connectors.costs import ReconciledDay
from reporting.figures.period import ReportPeriod
from reporting.figures.tables import pct, table


def reconciliation_table(period: ReportPeriod, days: list[ReconciledDay]) -> dict:
    """`days`: the reconciled cost days of the quarter up to the cutoff (UTC days)."""
    sums: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for day in days:
        key = (str(day.day_row.connection), day.day_row.day.replace(day=1))
        sums[key][0] += day.provider_micros
        sums[key][1] += day.connector_micros
        sums[key][2] += day.restated_micros
        sums[key][3] += day.gateway_micros
        sums[key][4] += day.held_micros
        sums[key][5] += int(day.over_threshold)
    rows = [
        [provider, month.strftime("%b %Y"), cost, connectors, restated, gateway]
        + [connectors + gateway, held, connectors + gateway - cost]
        + [pct(connectors + gateway - cost, cost), over]
        for (provider, month), (cost, connectors, restated, gateway, held, over) in sorted(
            sums.items()
        )
    ]
    cost, recorded = sum(r[2] for r in rows), sum(r[6] for r in rows)
    return table(
        "reconciliation",
        "Reconciliation with the providers' cost reports",
        "reconciliation",
        [
            ("Provider", "text"),
            ("Month", "text"),
            ("Provider's cost", "money"),
            ("From connectors", "money"),
            ("Of which restatements", "money"),
            ("From the gateway/API", "money"),
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
            sum(r[3] for r in rows),
            sum(r[4] for r in rows),
            sum(r[5] for r in rows),
            recorded,
            sum(r[7] for r in rows),
            recorded - cost,
            pct(recorded - cost, cost),
            sum(r[10] for r in rows),
        ],
        note="UTC days, as the providers report them. Recorded by Allot: what the connectors' "
        "usage buckets of those days posted (of which restatements: what the providers' later "
        "readings of those buckets added or took back), plus the usage that came in through "
        "the gateway or the API (and import_usage) for the provider's models those days; held: "
        "buckets waiting for an identity mapping, not in the recorded total. A gap is flagged "
        f"above each connection's limit; through {period.cutoff:%d %b %Y}.",
    )
