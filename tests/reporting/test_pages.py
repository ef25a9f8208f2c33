"""/reports/: Finance (and superusers) list, generate and download; everyone else gets a 403,
also on a guessed download URL; the build runs as a Celery task and shows its progress."""

import csv
import io
import zipfile
from datetime import date
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from pypdf import PdfReader

from budgets.usage import usage_post
from common.money import micros_to_dollars, quantize_cents
from people.roles import FINANCE
from reporting.models import ReportRun, RunState, RunTrigger
from reporting.services import report_quarter_start, report_run_build, report_run_request
from tests.factories import EmployeeFactory, UserFactory, finance_user, hr_user
from tests.reporting.conftest import at, dollars


@pytest.fixture
def finance(db):
    return finance_user()


@pytest.fixture
def done_run(company, finance):
    run = report_run_request(fiscal_year=2026, quarter=1, acting_user=finance, enqueue=False)
    return report_run_build(run=run)


def engineer():
    return EmployeeFactory().user


def manager():
    boss = EmployeeFactory()
    EmployeeFactory(manager=boss)
    return boss.user


OUTSIDERS = {"engineer": engineer, "manager": manager, "hr": lambda: hr_user()}


def urls_of(run: ReportRun) -> list[str]:
    return [
        reverse("reporting:list"),
        reverse("reporting:detail", args=[run.pk]),
        reverse("reporting:status", args=[run.pk]),
        reverse("reporting:pdf", args=[run.pk]),
        reverse("reporting:csv", args=[run.pk]),
        reverse("reporting:xlsx", args=[run.pk]),
        reverse("reporting:csv_zip", args=[run.pk]),
    ]


def test_finance_lists_sees_and_downloads(client, done_run, finance):
    client.force_login(finance)
    for url in urls_of(done_run):
        assert client.get(url).status_code == 200, url
    pdf = client.get(reverse("reporting:pdf", args=[done_run.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    assert "attachment" in pdf["Content-Disposition"]
    body = b"".join(pdf.streaming_content)
    assert len(PdfReader(io.BytesIO(body)).pages) > 5
    page = client.get(reverse("reporting:detail", args=[done_run.pk])).content.decode()
    assert page.count("<svg") >= 5  # the same charts as the PDF, from common.charts
    assert "Spend by department" in page
    csv = client.get(reverse("reporting:csv", args=[done_run.pk]) + "?table=by_department")
    assert csv.content.decode().count("[by_department]") == 1
    assert "[headline]" not in csv.content.decode()


def test_a_superuser_is_let_in(client, done_run):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    assert client.get(reverse("reporting:pdf", args=[done_run.pk])).status_code == 200


@pytest.mark.parametrize("who", sorted(OUTSIDERS))
def test_anyone_else_gets_403_on_every_page_even_a_guessed_file_url(client, done_run, who):
    client.force_login(OUTSIDERS[who]())
    for url in urls_of(done_run):
        assert client.get(url).status_code == 403, url
    # a run that does not exist is a 403 too: guessing ids tells nothing
    assert client.get(reverse("reporting:pdf", args=[done_run.pk + 99])).status_code == 403
    response = client.post(reverse("reporting:list"), {"fiscal_year": 2026, "quarter": 1})
    assert response.status_code == 403
    assert ReportRun.objects.count() == 1


def test_anonymous_visitors_are_sent_to_sign_in(client, done_run):
    for url in urls_of(done_run):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_the_file_has_no_public_media_url(client, done_run, finance):
    # stored under MEDIA_ROOT but never served from it: only the checking view reads it
    assert done_run.pdf.name.startswith("reports/")
    with pytest.raises(ValueError, match="no public URL"):
        done_run.pdf.url  # noqa: B018
    client.force_login(finance)
    guessed = f"/{settings.MEDIA_URL}{done_run.pdf.name}".replace("//", "/")
    assert client.get(guessed).status_code == 404


def test_asking_on_the_page_builds_the_report_in_a_task(
    client, company, finance, django_capture_on_commit_callbacks
):
    client.force_login(finance)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("reporting:list"),
            {"fiscal_year": 2026, "quarter": 1, "include_appendix": "on"},
        )
    assert response.status_code == 302
    run = ReportRun.objects.get()
    assert (run.state, run.progress_percent, run.requested_by) == (RunState.DONE, 100, finance)
    assert run.include_appendix and run.pdf and run.finished_at
    assert set(run.timings) == {"data_seconds", "pdf_seconds"}
    page = client.get(reverse("reporting:list")).content.decode()
    assert "FY2026 Q1" in page and finance.get_full_name() in page
    status = client.get(reverse("reporting:status", args=[run.pk])).json()
    assert status == {
        "id": run.pk,
        "state": "done",
        "progress_percent": 100,
        "stage": "Done",
        "finished": True,
    }


def test_a_queued_run_shows_its_progress_on_the_list(client, company, finance):
    run = report_run_request(fiscal_year=2026, quarter=1, acting_user=finance, enqueue=False)
    client.force_login(finance)
    page = client.get(reverse("reporting:list")).content.decode()
    assert f'data-run="{run.pk}" data-finished="0"' in page and "<progress" in page
    assert client.get(reverse("reporting:pdf", args=[run.pk])).status_code == 404


def test_a_future_quarter_or_bad_input_is_refused_with_a_message(client, finance):
    client.force_login(finance)
    year = timezone.localdate().year + 2
    response = client.post(reverse("reporting:list"), {"fiscal_year": year, "quarter": 1})
    assert response.status_code == 200
    assert "has no figures yet" in response.content.decode()
    response = client.post(reverse("reporting:list"), {"fiscal_year": 2026, "quarter": 5})
    assert "Select a valid choice" in response.content.decode()
    assert not ReportRun.objects.exists()


def test_the_snapshot_is_frozen_until_the_report_is_built_again(company, done_run):
    before = done_run.snapshot["quarter_spend"]
    usage_post(
        employee=company["carol"],
        event_id="late",
        model_name="m",
        occurred_at=at(2026, 6, 2, 9),
        input_tokens=1,
        output_tokens=1,
        cost_micros=dollars("2"),
    )
    done_run.refresh_from_db()
    assert done_run.snapshot["quarter_spend"] == before
    again = report_run_build(
        run=report_run_request(fiscal_year=2026, quarter=1, acting_user=None, enqueue=False)
    )
    assert again.snapshot["quarter_spend"] == before + dollars("2")
    # building a finished run again changes nothing
    assert report_run_build(run=done_run).snapshot["quarter_spend"] == before


def test_the_command_writes_the_pdf_and_lists_the_run(company, tmp_path):
    output = tmp_path / "q1.pdf"
    out = io.StringIO()
    call_command(
        "quarterly_report",
        "--fiscal-year",
        "2026",
        "--quarter",
        "1",
        "--output",
        str(output),
        "--csv",
        str(tmp_path / "q1.csv"),
        stdout=out,
    )
    assert output.read_bytes().startswith(b"%PDF")
    assert "[by_model]" in (tmp_path / "q1.csv").read_text()
    run = ReportRun.objects.get()
    assert run.trigger == RunTrigger.COMMAND and run.state == RunState.DONE
    assert "FY2026 Q1" in out.getvalue()
    with pytest.raises(CommandError, match="no figures yet"):
        call_command(
            "quarterly_report",
            "--fiscal-year",
            str(timezone.localdate().year + 3),
            "--quarter",
            "1",
            "--output",
            str(output),
        )


def test_beat_builds_the_quarter_that_ended_once_on_the_first_day_of_a_quarter(
    company, django_capture_on_commit_callbacks
):
    assert "reporting.quarter_start" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
    # April fiscal year: July 1 starts Q2, so Q1 is built
    assert report_quarter_start(today=date(2026, 7, 2)) is None
    assert report_quarter_start(today=date(2026, 1, 1)) is not None  # Q4 starts Jan 1
    with django_capture_on_commit_callbacks(execute=True):
        run = report_quarter_start(today=date(2026, 7, 1))
    run.refresh_from_db()
    assert (run.fiscal_year, run.quarter, run.trigger) == (2026, 1, RunTrigger.SCHEDULE)
    assert run.state == RunState.DONE and run.requested_by is None
    assert report_quarter_start(today=date(2026, 7, 1)) is None
    first_of_year = report_quarter_start(today=date(2026, 4, 1))
    assert (first_of_year.fiscal_year, first_of_year.quarter) == (2025, 4)


def test_the_nav_shows_reports_to_finance_only(client, db):
    finance = finance_user()
    client.force_login(finance)
    assert reverse("reporting:list") in client.get(reverse("dashboard")).content.decode()
    other = EmployeeFactory().user
    client.force_login(other)
    assert reverse("reporting:list") not in client.get(reverse("dashboard")).content.decode()
    assert Group.objects.get(name=FINANCE).permissions.filter(codename="view_reportrun").exists()


def test_the_tables_come_as_a_workbook_a_sheet_a_table_and_as_tidy_csvs(client, done_run, finance):
    # Given a built report; when finance downloads the workbook and the zip
    client.force_login(finance)
    xlsx = client.get(reverse("reporting:xlsx", args=[done_run.pk]))
    archive = client.get(reverse("reporting:csv_zip", args=[done_run.pk]))
    assert xlsx.status_code == 200 and archive.status_code == 200
    tables = done_run.snapshot["tables"]
    # Then the workbook has the About sheet and one sheet per table, in order, numbers as numbers
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["About", *[t["key"] for t in tables]]
    department = next(t for t in tables if t["key"] == "by_department")
    sheet = book["by_department"]
    money_columns = [i for i, c in enumerate(department["columns"]) if c["kind"] == "money"]
    assert money_columns
    first = [cell.value for cell in sheet[2]]
    column = money_columns[0]
    # a number a pivot can sum, not text (XLSX keeps numbers as doubles: compared by its digits)
    assert isinstance(first[column], int | float)
    assert Decimal(str(first[column])) == quantize_cents(
        micros_to_dollars(department["rows"][0][column])
    )
    assert sheet.max_row >= len(department["rows"]) + 1
    # And the zip holds one tidy CSV a table: the header, then exactly its rows
    files = zipfile.ZipFile(io.BytesIO(archive.content))
    assert sorted(files.namelist()) == sorted(f"{t['key']}.csv" for t in tables)
    lines = list(csv.reader(io.StringIO(files.read("by_department.csv").decode("utf-8-sig"))))
    assert len(lines) == 1 + len(department["rows"])
    assert lines[0][0] == (department["columns"][0]["label"] or "Item")
    assert not any(line and line[0].startswith("[") for line in lines)
    assert Decimal(lines[1][column]) == quantize_cents(
        micros_to_dollars(department["rows"][0][column])
    )
