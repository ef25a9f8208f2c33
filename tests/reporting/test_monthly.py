"""The monthly report (issue 22, item 3): the quarterly report's builder and look over one month,
downloadable as PDF, CSV, the XLSX workbook and the zip of tidy CSVs from finance's reports
page, for finance only."""

import io
import zipfile
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook
from pypdf import PdfReader

from reporting.models import ReportRun, RunState
from reporting.selectors import month_report_data, report_data
from reporting.services import month_report_run_request, report_run_build, report_run_request
from tests.factories import EmployeeFactory, finance_user, hr_user
from tests.reporting.conftest import at, dollars


def _table(snapshot: dict, key: str) -> dict:
    return next(t for t in snapshot["tables"] if t["key"] == key)


def cents(value) -> Decimal:
    """A number as XLSX stores it (a double, as the format has it) back to the cent."""
    return Decimal(str(value))


def _row(table: dict, label: str) -> list:
    return next(r for r in table["rows"] if r[0] == label)


@pytest.fixture
def finance(db):
    return finance_user()


@pytest.fixture
def june_run(company, finance):
    run = month_report_run_request(month=date(2026, 6, 17), acting_user=finance, enqueue=False)
    return report_run_build(run=run)


def test_a_month_has_its_own_spend_the_year_to_date_and_last_years_month(company):
    june = month_report_data(month=date(2026, 6, 1), as_of=at(2026, 8, 1))
    # June: Bob's last-second event, Carol's, and the -$1 correction posted on 15 June.
    assert june["quarter_spend"] == dollars("100.123456") + dollars("3.333333") - dollars("1")
    # FY2026 (from April) to the end of June; not July's $50
    assert june["year_spend"] == dollars("133.206789")
    assert (june["period_kind"], june["period_title"]) == ("month", "June 2026")
    assert (june["quarter_start"], june["quarter_end"]) == ("2026-06-01", "2026-06-30")
    may = month_report_data(month=date(2026, 5, 1), as_of=at(2026, 8, 1))
    headline = _table(may, "headline")
    assert _row(headline, "Same month last year")[1] == dollars("40")  # May 2025
    assert _row(headline, "Token spend")[1] == dollars("20.25")


def test_the_three_months_add_up_to_their_quarter(company):
    quarter = report_data(fiscal_year=2026, quarter=1, as_of=at(2026, 8, 1))
    months = [month_report_data(month=date(2026, m, 1), as_of=at(2026, 8, 1)) for m in (4, 5, 6)]
    assert sum(m["quarter_spend"] for m in months) == quarter["quarter_spend"]
    for key in ("by_department", "by_model"):
        totals = [_table(m, key)["total"][1] for m in months]
        assert sum(totals) == _table(quarter, key)["total"][1]


def test_the_builders_labels_say_month_and_names_from_the_data_stay(company):
    company["teams"][0].name = "Quarterly Planning"
    company["teams"][0].save()
    june = month_report_data(month=date(2026, 6, 1), as_of=at(2026, 8, 1))
    for table in june["tables"]:
        labels = [table["title"], table.get("note") or "", *(c["label"] for c in table["columns"])]
        assert not any("quarter" in text.lower() for text in labels), table["key"]
    forecast = _table(june, "forecast")
    assert _row(forecast, "Burn rate per day (this month)")
    teams = [r[0] for r in _table(june, "by_team")["rows"]]
    assert "Quarterly Planning (Data)" in teams


def test_finance_asks_on_the_page_and_downloads_pdf_xlsx_and_csv(
    client, company, finance, django_capture_on_commit_callbacks
):
    client.force_login(finance)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reporting:list"), {"period": "month", "m-month": "2026-06"})
    assert response.status_code == 302
    run = ReportRun.objects.get()
    assert (run.month, run.fiscal_year, run.quarter) == (date(2026, 6, 1), 2026, 1)
    assert run.state == RunState.DONE and run.period_label == "June 2026"
    page = client.get(reverse("reporting:list")).content.decode()
    assert "June 2026" in page and reverse("reporting:xlsx", args=[run.pk]) in page

    pdf = client.get(reverse("reporting:pdf", args=[run.pk]))
    assert pdf["Content-Disposition"] == 'attachment; filename="token-spend-2026-06.pdf"'
    reader = PdfReader(io.BytesIO(b"".join(pdf.streaming_content)))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Token spend report" in text and "June 2026" in text
    assert "TOKEN SPEND THIS MONTH" in text.upper() and "$102.46" in text
    assert "quarter" not in text.lower()  # every label of the builder names the month
    assert "Spend by department" in text  # the quarterly report's sections, same builder

    xlsx = client.get(reverse("reporting:xlsx", args=[run.pk]))
    assert xlsx["Content-Disposition"] == 'attachment; filename="token-spend-2026-06.xlsx"'
    book = load_workbook(io.BytesIO(xlsx.content))
    about = list(book["About"].iter_rows(values_only=True))
    assert about[0][0] == "Acme & Sons — token spend report June 2026"
    assert about[1][0] == "2026-06-01 to 2026-06-30"
    assert ("by_department", _table(run.snapshot, "by_department")["title"]) in about
    headline = {row[0]: row[1:] for row in book["headline"].iter_rows(min_row=2, values_only=True)}
    assert cents(headline["Token spend"][0]) == Decimal("102.46")  # the month, a number
    assert cents(headline["Token spend"][1]) == Decimal("133.21")  # the fiscal year to date
    departments = list(book["by_department"].iter_rows(values_only=True))
    assert departments[0][1] == "Month spend (USD)"  # the header, then the rows
    assert all(cell is None for cell in departments[-2])  # a blank row before the total
    assert departments[-1][0] == "Total" and cents(departments[-1][1]) == Decimal("102.46")

    tables = client.get(reverse("reporting:csv_zip", args=[run.pk]))
    name = "token-spend-2026-06-tables.zip"
    assert tables["Content-Disposition"] == f'attachment; filename="{name}"'
    with zipfile.ZipFile(io.BytesIO(tables.content)) as archive:
        by_department = archive.read("by_department.csv").decode("utf-8-sig").splitlines()
    assert by_department[0].split(",")[1] == "Month spend (USD)"
    assert "Total" not in {line.split(",")[0] for line in by_department}  # tidy: rows only

    csv = client.get(reverse("reporting:csv", args=[run.pk])).content.decode()
    assert csv.startswith("Acme & Sons — token spend report June 2026,2026-06-01 to 2026-06-30")
    assert "Token spend,102.46,133.21" in csv


def test_a_quarters_report_downloads_as_xlsx_too(client, company, finance):
    run = report_run_build(
        run=report_run_request(fiscal_year=2026, quarter=1, acting_user=finance, enqueue=False)
    )
    client.force_login(finance)
    xlsx = client.get(reverse("reporting:xlsx", args=[run.pk]))
    assert xlsx["Content-Disposition"] == 'attachment; filename="token-spend-FY2026-Q1.xlsx"'
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book["About"]["A1"].value == "Acme & Sons — token spend report FY2026 Q1"
    headline = {row[0]: row[1:] for row in book["headline"].iter_rows(min_row=2, values_only=True)}
    assert cents(headline["Token spend"][0]) == Decimal("133.21")
    assert cents(headline["Same quarter last year"][0]) == Decimal("40")


@pytest.mark.parametrize("who", ["hr", "engineer"])
def test_only_finance_builds_or_downloads_a_monthly_report(client, june_run, who):
    user = hr_user() if who == "hr" else EmployeeFactory().user
    client.force_login(user)
    for name in ("detail", "pdf", "xlsx", "csv", "csv_zip"):
        assert client.get(reverse(f"reporting:{name}", args=[june_run.pk])).status_code == 403
    response = client.post(reverse("reporting:list"), {"period": "month", "m-month": "2026-05"})
    assert response.status_code == 403
    assert ReportRun.objects.count() == 1


def test_a_bad_or_future_month_is_refused_naming_the_month(client, company, finance):
    client.force_login(finance)
    response = client.post(reverse("reporting:list"), {"period": "month", "m-month": "2026-13"})
    assert "is not a month: give it as YYYY-MM" in response.content.decode()
    response = client.post(reverse("reporting:list"), {"period": "month", "m-month": "2999-01"})
    assert "January 2999 has not started" in response.content.decode()
    assert not ReportRun.objects.exists()
