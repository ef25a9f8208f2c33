"""The report snapshot's tables ready for a pivot table: an XLSX workbook with one sheet a table,
and a zip of tidy CSVs (one file a table: a header row, then one row per item, no title lines,
totals or blank rows). Formatting only, no figures; every text cell is formula-safe
(common.csvsafe.spreadsheet_cell)."""

import csv
import io
import re
import zipfile
from datetime import date
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font

from common.csvsafe import spreadsheet_cell, spreadsheet_row
from common.money import micros_to_dollars, quantize_cents
from reporting.rendering import cell_kinds, csv_cell, header_label, period_title

# Excel's number formats per kind; the cells hold numbers, so a pivot sums them.
NUMBER_FORMATS = {
    "money": "#,##0.00",
    "count": "#,##0",
    "tokens": "#,##0",
    "percent": "0.00",
    "decimal": "#,##0.######",
    "date": "yyyy-mm-dd",
}
SHEET_NAME_UNSAFE = re.compile(r"[\[\]:*?/\\]")
SHEET_NAME_LENGTH = 31  # Excel's limit


def xlsx_value(value, kind: str):
    """A cell as a number, a date or text: money as dollars to the cent, percent as its number."""
    if value is None:
        return None
    if kind == "money":
        return quantize_cents(micros_to_dollars(value))
    if kind in ("percent", "decimal"):
        return Decimal(value)
    if kind == "date":
        return date.fromisoformat(value)
    return spreadsheet_cell(value)


def _headers(table: dict) -> list[str]:
    return [header_label(column) or "Item" for column in table["columns"]]


def _sheet_name(key: str, taken: set[str]) -> str:
    name = SHEET_NAME_UNSAFE.sub("_", key)[:SHEET_NAME_LENGTH]
    base, n = name, 2
    while name.lower() in taken:
        suffix = f"_{n}"
        name, n = base[: SHEET_NAME_LENGTH - len(suffix)] + suffix, n + 1
    taken.add(name.lower())
    return name


def report_xlsx(snapshot: dict) -> bytes:
    """An "About" sheet (company, period, each table's sheet and title), then one sheet a table:
    its header in bold and frozen, its rows, and its total in bold after a blank row (outside
    the range a pivot table picks up)."""
    book = Workbook()
    about = book.active
    about.title = "About"
    bold = Font(bold=True)
    about.append(
        [spreadsheet_cell(f"{snapshot['company']} — token spend report {period_title(snapshot)}")]
    )
    about.append([f"{snapshot['quarter_start']} to {snapshot['quarter_end']}"])
    about.append([f"generated {snapshot['generated_at']}"])
    about.append([])
    about.append(["Sheet", "Table"])
    taken = {"about"}
    for table in snapshot["tables"]:
        name = _sheet_name(table["key"], taken)
        about.append([name, spreadsheet_cell(table["title"])])
        sheet = book.create_sheet(name)
        sheet.append([spreadsheet_cell(header) for header in _headers(table)])
        for cell in sheet[1]:
            cell.font = bold
        sheet.freeze_panes = "A2"
        lines = [(row, cell_kinds(table, index)) for index, row in enumerate(table["rows"])]
        for row, kinds in lines:
            _append(sheet, row, kinds)
        if table.get("total"):
            sheet.append([])
            _append(sheet, table["total"], cell_kinds(table, None))
            for cell in sheet[sheet.max_row]:
                cell.font = bold
        for index, header in enumerate(_headers(table), start=1):
            sheet.column_dimensions[sheet.cell(1, index).column_letter].width = max(
                12, min(48, len(header) + 4)
            )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _append(sheet, row: list, kinds: list[str]) -> None:
    sheet.append([xlsx_value(value, kind) for value, kind in zip(row, kinds, strict=True)])
    for cell, kind in zip(sheet[sheet.max_row], kinds, strict=True):
        if kind in NUMBER_FORMATS:
            cell.number_format = NUMBER_FORMATS[kind]


def tidy_csv(table: dict) -> str:
    """One table as a tidy CSV: the header, then its rows; money in dollars to the cent."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(spreadsheet_row(_headers(table)))
    for index, row in enumerate(table["rows"]):
        kinds = cell_kinds(table, index)
        writer.writerow(spreadsheet_row([csv_cell(v, k) for v, k in zip(row, kinds, strict=True)]))
    return out.getvalue()


def report_csv_zip(snapshot: dict) -> bytes:
    """Every table as `<key>.csv` in one zip (UTF-8 with a byte-order mark, as Excel wants)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for table in snapshot["tables"]:
            name = SHEET_NAME_UNSAFE.sub("_", table["key"])
            archive.writestr(f"{name}.csv", "\ufeff" + tidy_csv(table))
    return out.getvalue()
