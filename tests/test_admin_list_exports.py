"""HR and finance export the admin's lists of employees, budgets, ledger entries and usage, as
filtered on the page, to CSV and XLSX: only the filtered rows, money in dollars; nobody without
view permission exports; ledger entries and usage export and never import."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse
from import_export.formats.base_formats import CSV, TSV

from budgets.models import Budget, LedgerEntry, UsageEvent
from budgets.services import budget_adjust, budget_allocate, budget_create
from budgets.usage import usage_post
from people.models import Employee
from tests.factories import EmployeeFactory, UserFactory, finance_user, hr_user

K = 10**6


@pytest.fixture
def company(db):
    """Two people, each with a 2026 budget; one also with 2027's. Ada's budget has an allocation
    and an adjustment; each spends on a different model; Bob has left."""
    ada = EmployeeFactory(user__username="ada@example.com", user__first_name="Ada")
    bob = EmployeeFactory(user__username="bob@example.com", user__first_name="Bob")
    bob.is_active = False
    bob.save()
    for person, model_name in ((ada, "claude-a"), (bob, "claude-b")):
        budget, _ = budget_create(fiscal_year=2026, employee=person)
        budget_allocate(budget=budget, amount_micros=1_000_250_000, acting_user=None)
        usage_post(
            employee=person,
            event_id=f"event-{person.pk}",
            model_name=model_name,
            occurred_at=datetime(2026, 2, 10, 12, tzinfo=UTC),
            input_tokens=1_000,
            output_tokens=500,
            cost_micros=12_345_678,
        )
    budget_create(fiscal_year=2027, employee=ada)
    budget_adjust(
        budget=Budget.objects.get(employee=ada, fiscal_year=2026),
        amount_micros=-5 * K,
        acting_user=None,
        memo="=cmd correction",
    )
    return {"ada": ada, "bob": bob}


def export(client, model, query: str, extension: str):
    """What the list's "Export" link does: POST its form to the export URL, the list's filters
    in the query string, every column ticked."""
    model_admin = admin.site._registry[model]
    offered = [f().get_extension() for f in model_admin.get_export_formats()]
    resource = model_admin.get_export_resource_classes(request=None)[0]
    prefix = resource.__name__.lower()
    ticked = {f"{prefix}_{name}": "on" for name in resource().fields}
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_export")
    return client.post(
        f"{url}?{query}", {"format": offered.index(extension), "resource": 0, **ticked}
    )


def response_bytes(response) -> bytes:
    """A response's bytes, streamed (CSV, TSV) or whole (XLSX)."""
    return b"".join(response.streaming_content) if response.streaming else response.content


def rows(response, extension: str) -> list[dict]:
    assert response.status_code == 200, response.content[:500]
    assert "attachment" in response["Content-Disposition"]
    if extension == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
        values = [list(row) for row in sheet.iter_rows(values_only=True)]
    else:
        values = list(csv.reader(io.StringIO(response_bytes(response).decode("utf-8-sig"))))
    header, *body = values
    return [dict(zip(header, row, strict=True)) for row in body]


def dollars(value) -> Decimal:
    """A money cell as written: a number in XLSX, its digits in CSV (never micro-units)."""
    return Decimal(str(value))


@pytest.mark.parametrize("extension", ["csv", "xlsx"])
def test_hr_exports_the_employees_as_filtered(extension, company, client):
    client.force_login(hr_user())
    response = export(client, Employee, "is_active__exact=0", extension)
    exported = rows(response, extension)
    # only Bob, who left, with the import's columns first
    assert [row["email"] for row in exported] == ["bob@example.com"]
    assert list(exported[0])[:3] == ["email", "first_name", "last_name"]
    assert exported[0]["first_name"] == "Bob"
    assert exported[0]["is_active"] in ("0", 0, False)


@pytest.mark.parametrize("extension", ["csv", "xlsx"])
def test_finance_exports_the_budgets_as_filtered_in_dollars(extension, company, client):
    client.force_login(finance_user())
    response = export(client, Budget, "fiscal_year__exact=2026", extension)
    exported = rows(response, extension)
    labels = {name: f"Personal: {company[name].display_name}" for name in ("ada", "bob")}
    assert sorted(row["owner"] for row in exported) == sorted(labels.values())
    assert {str(row["fiscal_year"]) for row in exported} == {"2026"}
    by_owner = {row["owner"]: row for row in exported}
    ada = by_owner[labels["ada"]]
    assert dollars(ada["allocated_usd"]) == Decimal("995.25")  # 1,000.25 less the 5.00 correction
    assert dollars(ada["spent_usd"]) == Decimal("12.345678")
    assert dollars(ada["remaining_usd"]) == Decimal("995.25") - Decimal("12.345678")


@pytest.mark.parametrize("extension", ["csv", "xlsx"])
def test_finance_exports_the_ledger_as_filtered(extension, company, client):
    client.force_login(finance_user())
    ada = company["ada"]
    query = f"budget__employee__id__exact={ada.pk}&kind__exact=adjustment"
    exported = rows(export(client, LedgerEntry, query, extension), extension)
    assert len(exported) == 1
    (entry,) = exported
    assert entry["kind"] == "adjustment"
    assert dollars(entry["amount_usd"]) == Decimal("-5")
    assert entry["memo"] == "'=cmd correction"  # a typed memo never runs as a formula
    # and without the kind filter, the person's allocation and usage come too, nobody else's
    everything = rows(
        export(client, LedgerEntry, f"budget__employee__id__exact={ada.pk}", extension), extension
    )
    assert sorted(row["kind"] for row in everything) == ["adjustment", "allocation", "usage"]
    assert LedgerEntry.objects.count() == 5  # Bob's two are left out


@pytest.mark.parametrize("extension", ["csv", "xlsx"])
def test_hr_exports_the_usage_as_filtered(extension, company, client):
    client.force_login(hr_user())
    exported = rows(export(client, UsageEvent, "model_name__exact=claude-b", extension), extension)
    assert [row["employee"] for row in exported] == ["bob@example.com"]
    assert dollars(exported[0]["cost_usd"]) == Decimal("12.345678")
    assert str(exported[0]["input_tokens"]) == "1000"


@pytest.mark.parametrize("model", [Employee, Budget, LedgerEntry, UsageEvent])
def test_nobody_without_view_permission_exports(model, company, client):
    client.force_login(UserFactory(is_staff=True))
    response = export(client, model, "", "csv")
    assert response.status_code == 403
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_export")
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("model", [LedgerEntry, UsageEvent, Budget])
def test_the_money_lists_have_no_import(model, company, client):
    # no import URL, nor an import link on the list, where an import would move money
    with pytest.raises(NoReverseMatch):
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_import")
    client.force_login(finance_user())
    page = client.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
    assert page.status_code == 200
    assert b"export_link" in page.content
    assert b"import_link" not in page.content


def test_employees_keep_their_import_beside_the_export(company, client):
    client.force_login(hr_user())
    page = client.get(reverse("admin:people_employee_changelist"))
    assert b"export_link" in page.content and b"import_link" in page.content
    assert client.get(reverse("admin:people_employee_import")).status_code == 200


@pytest.mark.parametrize("file_format", [CSV, TSV])
@pytest.mark.parametrize("model", [Employee, Budget, LedgerEntry, UsageEvent])
def test_the_streamed_export_writes_what_the_resources_own_export_writes(
    model, file_format, company, client
):
    # given a list's export, streamed, and the same rows through import-export's whole dataset
    user = hr_user() if model is Employee else finance_user()
    client.force_login(user)
    response = export(client, model, "", file_format().get_extension())
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/")
    request.user = user
    queryset = model_admin.get_export_queryset(request)
    whole = model_admin.get_export_data(file_format(), request, queryset)
    # then the stream is that file, cell for cell, formula-safe cells included
    assert response.streaming and response.status_code == 200
    assert response_bytes(response).decode() == whole
    assert len(whole.splitlines()) == queryset.count() + 1


def test_a_streamed_usage_export_reads_rows_not_models(
    company, client, django_assert_max_num_queries
):
    # given one more person's usage: a third budget whose owner is loaded once, with the rest
    carol = EmployeeFactory(user__username="carol@example.com")
    for index in range(3):
        usage_post(
            employee=carol,
            event_id=f"carol-{index}",
            model_name="claude-a",
            occurred_at=datetime(2026, 2, 11, 12, tzinfo=UTC),
            input_tokens=10,
            output_tokens=5,
            cost_micros=1_000,
        )
    client.force_login(finance_user())
    response = export(client, UsageEvent, "", "csv")
    # when it streams: one read of the rows and one of the budgets they name, however many rows
    with django_assert_max_num_queries(2):
        exported = list(csv.DictReader(io.StringIO(response_bytes(response).decode())))
    assert len(exported) == 5
    assert {row["budget"] for row in exported if row["employee"] == "carol@example.com"} == {
        f"Personal: {carol.display_name}"
    }
