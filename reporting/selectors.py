"""Every number of the quarterly report, from one place: `report_data` gathers them with a fixed
handful of grouped SQL queries (none loops over events in Python) and returns a snapshot of plain
JSON values: money as integer micro-dollars, percentages as decimal strings. The PDF, the CSV and
the web page all render this snapshot; none of them computes a figure of its own.

Where a number comes from:
- spend is the usage ledger: each usage entry is one usage event (same amount), dated by when the
  event occurred (company zone), plus the usage-correction entries (repricing) posted in the period;
- budgets are the sums of the non-usage ledger entries of the fiscal year's budgets;
- carryover and forfeitures are the CARRYOVER_IN / CARRYOVER_OUT / FORFEITURE / EXPIRY entries.

The queries are in `reporting/figures/queries.py`, each figure family in a module of its own
beside them.
"""

import re
from datetime import date, datetime, timedelta

from django.utils import timezone

from connectors.costs import reconciliation
from connectors.models import ProviderCostDay
from people.selectors import company_settings
from reporting.figures.appendix import appendix_table
from reporting.figures.approvals import approvals_tables
from reporting.figures.breakdowns import breakdown_tables
from reporting.figures.carryover import (
    carryover_table,
    closed_years_overspend_table,
    forfeitures_table,
)
from reporting.figures.forecast import forecast_tables
from reporting.figures.headline import headline_table
from reporting.figures.inputs import Progress, report_inputs
from reporting.figures.period import ReportPeriod, moment, month_report_period, report_period
from reporting.figures.pilot import pilot_tables
from reporting.figures.prices import price_trend_table
from reporting.figures.productivity import productivity_tables
from reporting.figures.reconciliation import reconciliation_table
from reporting.figures.utilisation import baseline_table, utilisation_table

__all__ = [
    "SNAPSHOT_VERSION",
    "ReportPeriod",
    "moment",
    "month_report_data",
    "period_data",
    "report_data",
    "report_period",
]

SNAPSHOT_VERSION = 1


def report_data(
    *,
    fiscal_year: int,
    quarter: int,
    as_of: datetime | None = None,
    include_appendix: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Every figure of the quarter's report (and the year to date) as a JSON-ready snapshot."""
    as_of = as_of or timezone.now()
    period = report_period(
        fiscal_year=fiscal_year, quarter=quarter, today=timezone.localtime(as_of).date()
    )
    return period_data(
        period=period, as_of=as_of, include_appendix=include_appendix, progress=progress
    )


def month_report_data(
    *,
    month: date,
    as_of: datetime | None = None,
    include_appendix: bool = False,
    progress: Progress | None = None,
) -> dict:
    """The monthly report: the same figures as the quarter's, for one month (its first day)
    within its fiscal year to date, compared with the same month last year."""
    as_of = as_of or timezone.now()
    period = month_report_period(month=month, today=timezone.localtime(as_of).date())
    return period_data(
        period=period, as_of=as_of, include_appendix=include_appendix, progress=progress
    )


def period_data(
    *,
    period: ReportPeriod,
    as_of: datetime,
    include_appendix: bool = False,
    progress: Progress | None = None,
) -> dict:
    """The one builder of both reports: every table for `period` (a quarter or a month)."""
    step = progress or (lambda percent, label: None)
    settings_row = company_settings()
    fiscal_year, quarter = period.fiscal_year, period.quarter
    inputs = report_inputs(period=period, as_of=as_of, step=step)
    tables = [headline_table(inputs), *breakdown_tables(inputs)]
    step(78, "Utilisation, baseline and forecast")
    tables += [
        utilisation_table(inputs),
        baseline_table(inputs),
        *forecast_tables(inputs),
        carryover_table(inputs),
        forfeitures_table(inputs),
        price_trend_table(inputs, usd_per_token=settings_row.reference_rate_usd_per_token),
        *approvals_tables(inputs),
    ]
    step(85, "Pilot cohort and productivity")
    tables += [*pilot_tables(inputs), *productivity_tables(inputs)]
    cost_days = ProviderCostDay.objects.filter(
        day__gte=period.quarter_period.start,
        day__lt=min(period.cutoff, period.quarter_period.end),
    )
    overspend = closed_years_overspend_table(fiscal_year=fiscal_year)
    if overspend is not None:  # only when an earlier year ended spent beyond its allocation
        tables.append(overspend)
    if cost_days.exists():  # only where a provider connection reports its costs
        tables.append(reconciliation_table(period, reconciliation(cost_days)))
    if include_appendix:
        step(88, "Appendix: every budget")
        tables.append(appendix_table(inputs))

    q_start, q_end = period.quarter_period.start, period.quarter_period.end
    spend = inputs.spend
    if period.kind == "month":
        tables = [month_labels(t) for t in tables]
    return {
        "version": SNAPSHOT_VERSION,
        "company": settings_row.name,
        "fiscal_year": fiscal_year,
        "quarter": quarter,
        "period_kind": period.kind,
        "period_title": period.title,
        "period_noun": period.noun,
        "quarter_start": q_start.isoformat(),
        "quarter_end": (q_end - timedelta(days=1)).isoformat(),
        "year_start": period.year_period.start.isoformat(),
        "cutoff": period.cutoff.isoformat(),
        "complete_quarter": period.cutoff >= q_end,
        "generated_at": as_of.isoformat(),
        "time_zone": str(timezone.get_default_timezone()),
        "has_usage": spend.quarter_events > 0 or spend.quarter_corrections != 0,
        "quarter_spend": spend.quarter_spend,
        "year_spend": spend.year_spend,
        "annual_budget": spend.annual_budget,
        "include_appendix": include_appendix,
        "tables": tables,
    }


_QUARTER_WORD = re.compile(r"\b([Qq])uarter\b")
# Tables whose first column is the builder's own wording (elsewhere it is a team's or a model's
# name, which stays as it was typed).
_WORDED_ROWS = frozenset({"headline", "forecast"})


def _month_word(text):
    if not isinstance(text, str):
        return text
    return _QUARTER_WORD.sub(lambda m: "Month" if m.group(1) == "Q" else "month", text)


def month_labels(table: dict) -> dict:
    """A table of the monthly report as its figures say it: the builder's labels name "the
    quarter", which there is the month (titles, notes, column labels and the headline's and
    forecast's own row labels; never a name from the data)."""
    relabelled = {
        **table,
        "title": _month_word(table["title"]),
        "columns": [{**c, "label": _month_word(c["label"])} for c in table["columns"]],
    }
    if table.get("note"):
        relabelled["note"] = _month_word(table["note"])
    if table["key"] in _WORDED_ROWS:
        relabelled["rows"] = [[_month_word(row[0]), *row[1:]] for row in table["rows"]]
    return relabelled
