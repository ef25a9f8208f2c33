"""The report snapshot as PDF (WeasyPrint), CSV and web page: formatting only, no figures.

Money is shown with common.money.format_usd on screen and in the PDF ("$1,234.57", right-aligned)
and as a plain decimal to the cent in the CSV ("1234.57") so spreadsheets read it as a number;
both are the same amount rounded half-up to the cent.
"""

import csv
import io
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from common.charts import bar_list, column_chart, line_chart
from common.csvsafe import spreadsheet_row
from common.money import format_usd, format_usd_short, micros_to_dollars, quantize_cents
from common.pdf import css_string, pdf_from_html
from reporting.figures.pilot import PER_PERSON_COLUMNS

SECTIONS = [
    ("headline", "Headline"),
    ("breakdowns", "Where the money went"),
    ("utilisation", "Utilisation and baseline by level"),
    ("forecast", "Forecast"),
    ("carryover", "Carryover liability and forfeitures"),
    ("prices", "Price trend"),
    ("approvals", "Approvals"),
    ("pilot", "Pilots against their control groups"),
    ("productivity", "Productivity"),
    ("reconciliation", "Reconciliation with the providers"),
    ("appendix", "Appendix"),
]
NUMERIC_KINDS = {"money", "count", "tokens", "percent", "decimal"}
# Sections that start a new page in the PDF; the short ones follow on.
MAJOR_SECTIONS = {"headline", "breakdowns", "utilisation", "forecast", "prices", "appendix"}
CHART_CAPTIONS = {
    "by_department": "Quarter spend by department",
    "by_team": "Quarter spend, ten largest teams",
    "by_project": "Quarter spend, ten largest lines",
    "by_model": "Quarter spend by model",
    "by_category": "Quarter spend by category",
    "by_level": "Quarter spend by level",
    "utilisation": "Number of budgets by share of the allocation used",
    "price_trend": "Average cost per million tokens by month",
}


def cell_kinds(table: dict, row_index: int | None) -> list[str]:
    kinds = [column["kind"] for column in table["columns"]]
    if row_index is not None and "row_kinds" in table:
        row_kind = table["row_kinds"][row_index]
        kinds = [row_kind if kind == "row" else kind for kind in kinds]
    return kinds


def format_cell(value, kind: str) -> str:
    """A cell for people (PDF, web): money with a dollar sign and thousands separators."""
    if value is None:
        return "–"
    if kind == "money":
        return format_usd(value)
    if kind in ("count", "tokens"):
        return f"{value:,}"
    if kind == "percent":
        return f"{Decimal(value):,.2f} %"
    if kind == "decimal":
        return f"{Decimal(value):,}"
    if kind == "date":
        return date.fromisoformat(value).strftime("%d %b %Y")
    return str(value)


def csv_cell(value, kind: str) -> str:
    """A cell for spreadsheets: money as dollars to the cent, numbers without separators (made
    formula-safe where the row is written)."""
    if value is None:
        return ""
    if kind == "money":
        return str(quantize_cents(micros_to_dollars(value)))
    return str(value)


def header_label(column: dict) -> str:
    label = column["label"]
    return f"{label} (USD)" if column["kind"] == "money" and label else label


def report_csv(snapshot: dict, *, table_key: str | None = None) -> str:
    """Every table of the report (or the one named) as CSV: a title line, the header, the rows
    and the total; a blank line between tables. Every cell is formula-safe (spreadsheet_row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")

    def write(cells: list) -> None:
        writer.writerow(spreadsheet_row(cells))

    write(_title_row(snapshot))
    for table in snapshot["tables"]:
        if table_key and table["key"] != table_key:
            continue
        write([])
        write([f"[{table['key']}]", table["title"]])
        write([header_label(c) or "Item" for c in table["columns"]])
        for index, row in enumerate(table["rows"]):
            kinds = cell_kinds(table, index)
            write([csv_cell(v, k) for v, k in zip(row, kinds, strict=True)])
        if table.get("total"):
            kinds = cell_kinds(table, None)
            write([csv_cell(v, k) for v, k in zip(table["total"], kinds, strict=True)])
    return out.getvalue()


def period_title(snapshot: dict) -> str:
    """ "FY2026 Q2" or "November 2026" (snapshots from before the monthly report are quarters)."""
    return snapshot.get("period_title") or f"FY{snapshot['fiscal_year']} Q{snapshot['quarter']}"


def period_noun(snapshot: dict) -> str:
    return snapshot.get("period_noun", "quarter")


def _title_row(snapshot: dict) -> list[str]:
    return [
        f"{snapshot['company']} — token spend report {period_title(snapshot)}",
        f"{snapshot['quarter_start']} to {snapshot['quarter_end']}",
        f"generated {snapshot['generated_at']}",
    ]


def short_usd(value) -> str:
    """Compact dollars for chart labels: $1.2M, $45.6k, $512."""
    return format_usd_short(int(value))


def _short_label(label, limit: int = 32) -> str:
    text = str(label)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _table(snapshot: dict, key: str) -> dict | None:
    return next((t for t in snapshot["tables"] if t["key"] == key), None)


def report_charts(snapshot: dict) -> dict[str, SafeString]:
    """The charts of the report, by table key, from the same chart code as the web pages."""
    charts: dict[str, SafeString] = {}

    def bars(key: str, *, limit: int = 10, value_index: int = 1, fmt: Callable = short_usd):
        table = _table(snapshot, key)
        if not table:
            return
        items = [(_short_label(r[0]), r[value_index] or 0) for r in table["rows"]][:limit]
        if any(v for _, v in items):
            charts[key] = bar_list(items, format_value=fmt, title=table["title"])

    if not snapshot.get("has_usage"):
        return charts
    for key in ("by_department", "by_team", "by_project", "by_model", "by_category"):
        bars(key)
    levels = _table(snapshot, "by_level")
    if levels:
        charts["by_level"] = column_chart(
            [(r[0], r[1]) for r in levels["rows"]],
            format_value=short_usd,
            width=560,
            height=200,
            title=levels["title"],
        )
    spread = _table(snapshot, "utilisation")
    if spread:
        charts["utilisation"] = column_chart(
            [(r[0], r[1]) for r in spread["rows"]],
            format_value=lambda v: f"{v:,}",
            width=560,
            height=200,
            title=spread["title"],
        )
    trend = _table(snapshot, "price_trend")
    if trend and trend["rows"]:
        charts["price_trend"] = line_chart(
            [(r[0][:3], r[3]) for r in trend["rows"]],
            format_value=lambda v: format_usd(v),
            width=560,
            height=200,
            title="Average cost per million tokens",
        )
        charts["price_trend_spend"] = column_chart(
            [(r[0][:3], r[1]) for r in trend["rows"]],
            format_value=short_usd,
            width=560,
            height=180,
            title="Spend per month",
        )
    productivity = _table(snapshot, "productivity_trend")
    if productivity and productivity["rows"]:
        # One line per metric, each with its caption (units differ, so no shared axis).
        metrics = dict.fromkeys(r[0] for r in productivity["rows"])
        charts["productivity_trend"] = mark_safe(  # nosec B308 B703  # noqa: S308 - metric names escaped
            "".join(
                f'<p class="caption">Spend per unit of {escape(metric)} by month</p>'
                + line_chart(
                    [(r[1][:3], r[4]) for r in productivity["rows"] if r[0] == metric],
                    format_value=lambda v: format_usd(v),
                    width=560,
                    height=160,
                    title=f"Spend per unit of {metric} by month",
                )
                for metric in metrics
            )
        )
    for pilot in snapshot["tables"]:
        if pilot["key"].startswith("pilot_"):
            charts[pilot["key"]] = pilot_chart(pilot)
    return charts


def pilot_chart(pilot: dict) -> SafeString:
    """A pilot's metric per person, before and during, for the pilot and its control group."""
    before, during = PER_PERSON_COLUMNS
    metric = pilot["columns"][4]["label"].removesuffix(" before")
    points = [
        (f"{row[0][:7]} {when}", Decimal(row[index]))
        for row in pilot["rows"]
        for when, index in (("before", before), ("during", during))
        if row[index] is not None
    ]
    return column_chart(
        points,
        format_value=lambda v: f"{Decimal(v):,.2f}",
        width=560,
        height=180,
        title=f"{pilot['title']}: {metric} per person",
    )


def _view_table(table: dict) -> dict:
    """A table with every cell formatted, and which cells are numbers (right-aligned)."""

    def cells(values, kinds):
        return [
            {"text": format_cell(v, k), "numeric": k in NUMERIC_KINDS or k == "date"}
            for v, k in zip(values, kinds, strict=True)
        ]

    return {
        **table,
        "header": [
            {"label": c["label"], "numeric": c["kind"] not in ("text",)} for c in table["columns"]
        ],
        "body": [cells(row, cell_kinds(table, i)) for i, row in enumerate(table["rows"])],
        "footer": cells(table["total"], cell_kinds(table, None)) if table.get("total") else None,
    }


def _caption(key: str, noun: str) -> str:
    caption = CHART_CAPTIONS.get(key, "")
    return caption.replace("Quarter", noun.capitalize()).replace("quarter", noun)


def report_context(snapshot: dict) -> dict:
    charts = report_charts(snapshot)
    sections = []
    for key, title in SECTIONS:
        tables = [
            {
                **_view_table(t),
                "chart": charts.get(t["key"], ""),
                "chart_caption": _caption(t["key"], period_noun(snapshot)),
            }
            for t in snapshot["tables"]
            if t["section"] == key
        ]
        if tables:
            sections.append(
                {"key": key, "title": title, "tables": tables, "major": key in MAJOR_SECTIONS}
            )
    headline = _table(snapshot, "headline")
    spread = _table(snapshot, "utilisation")
    generated_at = timezone.localtime(datetime.fromisoformat(snapshot["generated_at"]))
    quarter_start = date.fromisoformat(snapshot["quarter_start"])
    quarter_end = date.fromisoformat(snapshot["quarter_end"])
    noun = period_noun(snapshot)
    return {
        "css_company": css_string(snapshot["company"]),
        "css_period": css_string(
            f"Token spend report · {period_title(snapshot)} · "
            f"{quarter_start:%-d %b %Y} – {quarter_end:%-d %b %Y}"
        ),
        "period_title": period_title(snapshot),
        "noun": noun,
        "css_generated": css_string(f"Confidential · generated {generated_at:%-d %b %Y %H:%M %Z}"),
        "snapshot": snapshot,
        "sections": sections,
        "charts": charts,
        "generated_at": generated_at,
        "quarter_start": quarter_start,
        "quarter_end": quarter_end,
        "key_figures": [
            (f"Token spend this {noun}", format_usd(snapshot["quarter_spend"])),
            ("Fiscal year to date", format_usd(snapshot["year_spend"])),
            ("Annual budget", format_usd(snapshot["annual_budget"])),
            (
                f"Spend per engineer ({noun})",
                format_cell(headline["rows"][10][1], "money") if headline else "–",
            ),
        ],
        "over_budget_count": spread["rows"][3][1] if spread else 0,
    }


def report_html(snapshot: dict) -> str:
    return render_to_string("reporting/pdf/report.html", report_context(snapshot))


def report_pdf(snapshot: dict) -> bytes:
    return pdf_from_html(report_html(snapshot))
