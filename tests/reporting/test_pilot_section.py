"""The quarterly report's pilot section: each pilot that ran in the quarter, with the same
comparison as its own page (pilots.comparison), in the snapshot, the CSV, the PDF and the XLSX."""

import io
from datetime import date

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from pypdf import PdfReader

from pilots.models import PilotCohort, PilotMembership
from reporting.rendering import report_csv, report_html, report_pdf
from reporting.selectors import report_data
from reporting.workbook import report_xlsx
from tests.reporting.conftest import dollars
from tests.reporting.test_figures import csv_tables, table


@pytest.fixture
def alices_pilot(company):
    """May 2026, Alice alone against everyone else: before is March 31 to April 30."""
    pilot = PilotCohort.objects.create(
        name="Alice's agents", start=date(2026, 5, 1), end=date(2026, 5, 31)
    )
    PilotMembership.objects.create(cohort=pilot, employee=company["alice"])
    PilotCohort.objects.create(name="Next year", start=date(2027, 5, 1))  # not in the quarter
    return pilot


def test_each_pilot_of_the_quarter_has_its_comparison(company, alices_pilot):
    # when
    q1 = report_data(fiscal_year=2026, quarter=1, as_of=timezone.now())
    # then only the pilot that ran in the quarter is there
    pilots = [t for t in q1["tables"] if t["section"] == "pilot"]
    assert [t["title"] for t in pilots] == ["Pilot: Alice's agents"]
    shown = table(q1, f"pilot_{alices_pilot.pk}")
    pilot_row, control_row = shown["rows"]
    # Alice: the last second of March 31 and April 1 before; May 10 during
    assert pilot_row[:4] == ["Pilot", 1, dollars("7.000001") + dollars("10.5"), dollars("20.25")]
    assert control_row[:4] == ["Control: everyone not in the pilot", 3, 0, 0]
    assert pilot_row[4:6] == ["0", "0"] and pilot_row[6] is None  # no metric: no spend per unit
    assert shown["total"][-1] is None
    assert "Too small to conclude: the pilot has 1 person and the control group 3" in shown["note"]
    assert (
        "Before: 31 Mar 2026 to 30 Apr 2026; during: 01 May 2026 to 31 May 2026" in (shown["note"])
    )
    # and every rendering carries it
    block = csv_tables(report_csv(q1))[f"pilot_{alices_pilot.pk}"]
    assert block[1][:4] == ["Pilot", "1", "17.50", "20.25"]
    pdf = report_pdf(q1)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Pilot: Alice's agents" in text and "Too small to conclude" in text
    book = load_workbook(io.BytesIO(report_xlsx(q1)))
    sheet = next(s for s in book.worksheets if s.title.startswith("pilot_"))
    assert sheet["A2"].value == "Pilot" and sheet["B2"].value == 1
    assert "Pilots against their control groups" in report_html(q1)


def test_a_quarter_without_pilots_says_so(company):
    q1 = report_data(fiscal_year=2026, quarter=1, as_of=timezone.now())
    assert table(q1, "pilot")["note"] == "No pilot ran in this period."
