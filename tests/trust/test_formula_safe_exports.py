"""Every CSV, TSV and XLSX Allot writes is formula-safe: a name someone typed (a department, a
team, a project, a model name from a gateway, an employee, a metric, the company) never reaches a
spreadsheet as a live formula, whichever export carries it."""

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest
import time_machine
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse

from budgets.models import RolloverRun, UsageEvent
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_post
from people.models import Department, Employee, Level
from people.selectors import company_settings
from reporting.models import ProductivityMetric
from reporting.services import report_run_build, report_run_request
from tests.factories import EmployeeFactory, ProjectFactory, TeamFactory, finance_user

K = 10**6
HOSTILE = ['=HYPERLINK("http://x","y")', "+1", "-1+2", "@SUM(A1)", "\tTAB", "\rCR"]
AFTER_THE_QUARTER = datetime(2026, 4, 15, 12, tzinfo=UTC)
# The test's own rule, not the code's: what a spreadsheet would start reading as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


@pytest.fixture
def hostile_company(db):
    """Each hostile start planted in every name a person or a gateway types, with money moving
    (some of it negative: a budget spent past its allocation) so each export has rows."""
    settings_row = company_settings()
    settings_row.name = f"{HOSTILE[0]} Inc"
    settings_row.fiscal_year_start_month = 1
    settings_row.save()
    for index, hostile in enumerate(HOSTILE):
        team = TeamFactory(
            name=f"{hostile} team",
            department=Department.objects.create(name=f"{hostile} department"),
        )
        band = Level.objects.create(
            name=f"{hostile} level", rank=100 + index, default_annual_budget_micros=1_000 * K
        )
        person = EmployeeFactory(
            user__username=f"{hostile}{index}@example.com",
            user__first_name=hostile,
            user__last_name=f"{hostile} last",
            team=team,
            level=band,
        )
        project = ProjectFactory(code=f"{hostile}{index}", name=f"{hostile} project")
        project.members.add(person)
        for owner in ({"employee": person}, {"team": team}, {"project": project}):
            budget, _ = budget_create(fiscal_year=2026, **owner)
            budget_allocate(budget=budget, amount_micros=100 * K, acting_user=None)
        for event, on_project in ((f"e{index}", None), (f"p{index}", project)):
            usage_post(
                employee=person,
                event_id=event,
                model_name=f"{hostile} model",
                occurred_at=datetime(2026, 2, 10, 12, tzinfo=UTC),
                input_tokens=1_000,
                output_tokens=500,
                cost_micros=150 * K,  # past the allocation: "-50.00" left
                project=on_project,
            )
        ProductivityMetric.objects.create(
            team=team, month=date(2026, 2, 1), metric=f"{hostile} metric", value=Decimal(3)
        )


def report_csv_from_the_page(client, tmp_path) -> bytes:
    run = report_run_request(fiscal_year=2026, quarter=1, acting_user=None, enqueue=False)
    report_run_build(run=run)
    return client.get(reverse("reporting:csv", args=[run.pk])).content


def report_csv_from_the_command(client, tmp_path) -> bytes:
    target = tmp_path / "report.csv"
    call_command(
        "quarterly_report",
        fiscal_year=2026,
        quarter=1,
        output=str(tmp_path / "report.pdf"),
        csv=str(target),
        stdout=io.StringIO(),
    )
    return target.read_bytes()


def rollover_csv_from_the_admin(client, tmp_path) -> bytes:
    client.post(reverse("admin:budgets_rolloverrun_new"), {"fiscal_year": 2026})
    run = RolloverRun.objects.get(fiscal_year=2026)
    return b"".join(client.get(reverse("admin:budgets_rolloverrun_csv", args=[run.pk])))


def rollover_csv_from_the_command(client, tmp_path) -> bytes:
    target = tmp_path / "rollover.csv"
    call_command("rollover", fiscal_year=2026, dry_run=True, csv=str(target), stdout=io.StringIO())
    return target.read_bytes()


def from_the_admin(model, extension: str):
    """The admin list's "Export", every column ticked."""

    def export(client, tmp_path) -> bytes:
        model_admin = admin.site._registry[model]
        offered = [f().get_extension() for f in model_admin.get_export_formats()]
        assert extension in offered, f"the admin does not offer {extension} (only {offered})"
        resource = model_admin.get_export_resource_classes(request=None)[0]
        prefix = resource.__name__.lower()
        fields = {f"{prefix}_{name}": "on" for name in resource().fields}
        response = client.post(
            reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_export"),
            {"format": offered.index(extension), "resource": 0, **fields},
        )
        assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
        if response.streaming:  # CSV and TSV stream; XLSX is one body
            return b"".join(response.streaming_content)
        return response.content

    return export


def metrics_from_the_admin(extension: str):
    return from_the_admin(ProductivityMetric, extension)


def cells(kind: str, content: bytes) -> list:
    if kind == "xlsx":
        book = openpyxl.load_workbook(io.BytesIO(content))
        return [cell for sheet in book for row in sheet.iter_rows() for cell in row]
    text = content.decode("utf-8-sig")
    rows = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if kind == "tsv" else ",")
    return [value for row in rows for value in row]


def formula_risks(kind: str, content: bytes) -> list:
    """The cells a spreadsheet would run: text starting with a formula character (a plain
    number such as -50.00 is data), and in XLSX any formula cell at all."""
    risky = []
    for cell in cells(kind, content):
        if kind == "xlsx":
            if cell.data_type == "f":
                risky.append(cell.value)
                continue
            value = cell.value
        else:
            value = cell
        text = value if isinstance(value, str) else ""
        if text.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(text):
            risky.append(text)
    return risky


def carried_names(kind: str, content: bytes) -> set[str]:
    """The hostile starts found in the export (neutralised or not): proof the export has them."""
    found = set()
    for cell in cells(kind, content):
        value = cell.value if kind == "xlsx" else cell
        # XML (so XLSX) reads a carriage return back as a line feed
        text = str(value or "").removeprefix("'").replace("\n", "\r")
        found |= {hostile for hostile in HOSTILE if text.startswith(hostile)}
    return found


EXPORTS = [
    pytest.param("csv", report_csv_from_the_page, id="quarterly report CSV (/reports/)"),
    pytest.param("csv", report_csv_from_the_command, id="quarterly_report --csv"),
    pytest.param("csv", rollover_csv_from_the_admin, id="rollover preview CSV (admin)"),
    pytest.param("csv", rollover_csv_from_the_command, id="rollover --dry-run --csv"),
    pytest.param("csv", metrics_from_the_admin("csv"), id="productivity metrics CSV (admin)"),
    pytest.param("xlsx", metrics_from_the_admin("xlsx"), id="productivity metrics XLSX (admin)"),
    pytest.param("tsv", metrics_from_the_admin("tsv"), id="productivity metrics TSV (admin)"),
    pytest.param("csv", from_the_admin(Employee, "csv"), id="employees CSV (admin)"),
    pytest.param("xlsx", from_the_admin(Employee, "xlsx"), id="employees XLSX (admin)"),
    pytest.param("csv", from_the_admin(UsageEvent, "csv"), id="usage CSV (admin)"),
    pytest.param("xlsx", from_the_admin(UsageEvent, "xlsx"), id="usage XLSX (admin)"),
]


@pytest.mark.parametrize(("kind", "export"), EXPORTS)
def test_no_export_writes_a_typed_name_as_a_live_formula(
    kind, export, hostile_company, client, tmp_path
):
    # given hostile names in every typed field, and finance signed in
    client.force_login(finance_user())
    # when finance downloads the export, after the quarter
    with time_machine.travel(AFTER_THE_QUARTER, tick=False):
        content = export(client, tmp_path)
    # then the names are in it, and not one cell would run as a formula
    assert carried_names(kind, content) == set(HOSTILE)
    assert formula_risks(kind, content) == []
