"""The one rule for spreadsheet cells (CSV, TSV, XLSX): text that could run as a formula is quoted,
numbers and dates stay what they are."""

from datetime import date
from decimal import Decimal

import pytest

from common.csvsafe import spreadsheet_cell, spreadsheet_row, spreadsheet_text_unquoted


@pytest.mark.parametrize(
    ("typed", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+1", "'+1"),
        ("-1+2", "'-1+2"),
        ("-cmd", "'-cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tleading tab", "'\tleading tab"),
        ("\rleading CR", "'\rleading CR"),
        ("gpt-4o", "gpt-4o"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
    ],
)
def test_text_that_starts_like_a_formula_is_quoted(typed, written):
    """Found by review: model names come from gateways, names from HR, into finance's CSVs."""
    assert spreadsheet_cell(typed) == written


def test_numbers_and_dates_stay_numbers_and_dates_a_negative_amount_included():
    # given what our code writes: Decimals, ints, dates, and money already printed as text
    cells = [Decimal("-12.50"), -3, 1.5, date(2026, 4, 1), "-12.50", "-3", True]
    # then none of it is quoted, and numbers keep their type (XLSX writes them as numbers)
    assert spreadsheet_row(cells) == cells
    assert type(spreadsheet_cell(Decimal("-12.50"))) is Decimal
    # but a number that is not finite is text like any other
    assert spreadsheet_cell(Decimal("-Infinity")) == "'-Infinity"
    assert spreadsheet_cell(float("nan")) == "nan"


def test_quoting_twice_changes_nothing_and_an_import_takes_the_quote_off_again():
    quoted = spreadsheet_cell("=1+1")
    assert spreadsheet_cell(quoted) == quoted
    assert spreadsheet_text_unquoted(quoted) == "=1+1"
    assert spreadsheet_text_unquoted("'quoted on purpose") == "'quoted on purpose"
