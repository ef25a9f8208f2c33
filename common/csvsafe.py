"""Cells for the spreadsheets Allot writes (CSV, TSV, XLSX), so that a name typed by someone else
(a model name from a gateway, a department, team, project, employee or metric name) can never run
as a formula on the reader's machine (CSV injection). Every export passes each of its cells,
headers included, through `spreadsheet_cell`: the reports and the rollover preview through
`spreadsheet_row`, the admin's exports through `common.exports.SpreadsheetSafeResource`."""

import math
import re
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def is_plain_number(text: str) -> bool:
    """Digits with an optional leading minus and decimal part ("-12.50"): what a spreadsheet
    reads as a number, never as a formula."""
    return PLAIN_NUMBER.fullmatch(text) is not None


def spreadsheet_cell(value: object) -> object:
    """One cell, safe to open in a spreadsheet.

    - None is an empty cell ("").
    - A finite number (int, Decimal, float), a date, a time or a datetime is returned as it is:
      no formula can come from one. XLSX keeps it a number or a date; CSV writes its digits, so a
      negative amount is "-12.50".
    - Text that starts with = + - @, a tab or a carriage return gets a leading single quote
      (OWASP's advice): a spreadsheet shows it as text and runs nothing. The one exception is
      text that is a whole plain decimal number ("-12.50", "-3"): money and percentages reach our
      CSVs as such text, a spreadsheet reads it as a number, and it can run nothing, whoever wrote
      it. So "-1+2" and "-cmd" are quoted, "-12.50" stays a number, everywhere.
    """
    if value is None:
        return ""
    if isinstance(value, int | date | time | datetime):  # bool is an int; datetime a date
        return value
    if isinstance(value, Decimal) and value.is_finite():
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not is_plain_number(text):
        return "'" + text
    return text


def spreadsheet_text_unquoted(text: str) -> str:
    """The text `spreadsheet_cell` quoted, as it was: for a file exported and imported back."""
    return text[1:] if text[:1] == "'" and text[1:].startswith(FORMULA_STARTS) else text


def spreadsheet_row(values: Iterable[object]) -> list[object]:
    return [spreadsheet_cell(value) for value in values]
