"""The FOCUS export: the specification's mandatory columns, valid values, and the ledger's usage."""

import csv
import io
import json
import re
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum

from budgets.models import EntryKind, LedgerEntry
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_post
from people.models import Department
from reporting.focus import FOCUS_COLUMNS, focus_rows, focus_write
from tests.factories import EmployeeFactory, ProjectFactory, TeamFactory
from tests.reporting.test_journal import at

K = 10**6
# FOCUS 1.2 (FinOps Foundation, specification/columns/*.md at tag v1.2): the columns whose
# feature level is Mandatory, with their data type and whether they allow nulls.
SPEC_MANDATORY = {
    "BilledCost": ("Decimal", False),
    "BillingAccountId": ("String", False),
    "BillingAccountName": ("String", True),
    "BillingCurrency": ("String", False),
    "BillingPeriodEnd": ("Date/Time", False),
    "BillingPeriodStart": ("Date/Time", False),
    "ChargeCategory": ("String", False),
    "ChargeClass": ("String", True),
    "ChargeDescription": ("String", True),
    "ChargePeriodEnd": ("Date/Time", False),
    "ChargePeriodStart": ("Date/Time", False),
    "ContractedCost": ("Decimal", False),
    "EffectiveCost": ("Decimal", False),
    "InvoiceIssuerName": ("String", False),
    "ListCost": ("Decimal", False),
    "PricingQuantity": ("Decimal", True),
    "PricingUnit": ("String", True),
    "ProviderName": ("String", False),
    "PublisherName": ("String", False),
    "ServiceCategory": ("String", False),
    "ServiceName": ("String", False),
}
MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


def problems(row: dict) -> list[str]:
    found = []
    for column, (data_type, nullable) in SPEC_MANDATORY.items():
        value = row[column]
        if value == "":
            if not nullable:
                found.append(f"{column} is empty")
            continue
        if data_type == "Decimal" and not DECIMAL.match(value):
            found.append(f"{column} {value!r} is not a decimal")
        if data_type == "Date/Time" and not MOMENT.match(value):
            found.append(f"{column} {value!r} is not YYYY-MM-DDTHH:mm:ssZ")
    if row["ChargeCategory"] not in {"Usage", "Purchase", "Tax", "Credit", "Adjustment"}:
        found.append("ChargeCategory not allowed")
    if row["ChargeClass"] not in {"", "Correction"}:
        found.append("ChargeClass not allowed")
    if not row["ChargePeriodStart"] < row["ChargePeriodEnd"]:
        found.append("charge period empty")
    if not row["BillingPeriodStart"] <= row["ChargePeriodStart"] < row["BillingPeriodEnd"]:
        found.append("charge outside its billing period")
    json.loads(row["Tags"])  # the KeyValueFormat is a JSON object
    return found


@pytest.fixture
def usage(db):
    data = Department.objects.create(name="Data")
    team = TeamFactory(name="Lakehouse", department=data)
    alice = EmployeeFactory(user__email="alice@example.com", team=team)
    project = ProjectFactory(code="search", lead=alice)
    project.members.add(alice)
    with time_machine.travel(at(2026, 10, 1, 9), tick=False):
        budget, _ = budget_create(fiscal_year=2026, employee=alice)
        budget_allocate(budget=budget, amount_micros=900 * K, acting_user=None)
    # the range's edges: the last hour of October 31 is out, the first of November 1 is in
    moments = (at(2026, 10, 31, 23), at(2026, 11, 1, 0), at(2026, 11, 15, 8), at(2026, 11, 30, 23))
    with time_machine.travel(at(2026, 12, 2, 9), tick=False):
        for n, moment in enumerate(moments):
            usage_post(
                employee=alice,
                event_id=f"e-{n}",
                model_name="claude-sonnet",
                occurred_at=moment,
                input_tokens=1000,
                output_tokens=200,
                cost_micros=1_234_567 * (n + 1),
                project=project if n == 2 else None,
            )
    return alice


def test_focus_rows_have_the_mandatory_columns_and_sum_to_the_ledgers_usage(usage):
    out = io.BytesIO()
    rows_written = focus_write(out, date(2026, 11, 1), date(2026, 11, 30))
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    # then every mandatory column is there, each row valid against the specification
    assert set(SPEC_MANDATORY) <= set(rows[0])
    assert [problems(row) for row in rows] == [[]] * len(rows)
    # the October 31 event is outside the range; November's three are in
    assert rows_written == len(rows) == 3
    ledger = LedgerEntry.objects.filter(
        kind=EntryKind.USAGE,
        usage_event__occurred_at__gte=at(2026, 11, 1),
        usage_event__occurred_at__lt=at(2026, 12, 1),
    ).aggregate(total=Sum("amount_micros"))["total"]
    assert sum(Decimal(row["BilledCost"]) for row in rows) * K == ledger
    assert sum(Decimal(row["EffectiveCost"]) for row in rows) * K == ledger
    # tags carry the employee, the team and the project; the team is the sub account
    tagged = [json.loads(row["Tags"]) for row in rows]
    assert {tags["allot/employee"] for tags in tagged} == {"alice@example.com"}
    assert [tags.get("allot/project") for tags in tagged].count("search") == 1
    assert {row["SubAccountName"] for row in rows} == {"Lakehouse"}
    assert {row["ProviderName"] for row in rows} == {"Anthropic"}
    assert {row["ServiceCategory"] for row in rows} == {"AI and Machine Learning"}


def test_focus_export_command_writes_the_file_and_refuses_bad_dates(usage, tmp_path):
    output = tmp_path / "focus.csv"
    call_command(
        "focus_export",
        "--from",
        "2026-10-01",
        "--to",
        "2026-11-30",
        "--output",
        str(output),
        stdout=io.StringIO(),
    )
    rows = list(csv.DictReader(output.open(encoding="utf-8")))
    assert len(rows) == 4
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command(
            "focus_export", "--from", "2026-13-01", "--to", "2026-11-30", "--output", str(output)
        )
    with pytest.raises(CommandError, match="ends before it starts"):
        call_command(
            "focus_export", "--from", "2026-11-30", "--to", "2026-11-01", "--output", str(output)
        )


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="only PostgreSQL makes the usage rows in the database",
)
def test_the_databases_rows_are_the_rows_python_makes(usage):
    out = io.BytesIO()
    focus_write(out, date(2026, 10, 1), date(2026, 11, 30))
    made_by_sql = list(csv.reader(io.StringIO(out.getvalue().decode())))[1:]
    made_by_python = [
        ["" if v is None else str(v) for v in row]
        for row in focus_rows(date(2026, 10, 1), date(2026, 11, 30))
    ]
    assert len(made_by_sql) == len(made_by_python) == 4
    for sql_row, python_row in zip(made_by_sql, made_by_python, strict=True):
        tags = FOCUS_COLUMNS.index("Tags")
        assert json.loads(sql_row.pop(tags)) == json.loads(python_row.pop(tags))
        assert sql_row == python_row


def test_cache_writes_count_in_the_consumed_and_priced_quantity_on_both_paths(usage):
    # given one more event that wrote to the prompt cache (5-minute and 1-hour writes)
    with time_machine.travel(at(2026, 12, 2, 9), tick=False):
        usage_post(
            employee=usage,
            event_id="e-cache",
            model_name="claude-sonnet",
            occurred_at=at(2026, 11, 20, 10),
            input_tokens=100,
            output_tokens=10,
            cache_write_tokens=3_000,
            cache_write_1h_tokens=500,
            cost_micros=K,
        )

    # when exported, by the database's query and by Python's rows
    out = io.BytesIO()
    focus_write(out, date(2026, 11, 1), date(2026, 11, 30))
    by_sql = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    by_python = [
        dict(zip(FOCUS_COLUMNS, row, strict=True))
        for row in focus_rows(date(2026, 11, 1), date(2026, 11, 30))
    ]

    # then its tokens are all of them, cache writes included, on both
    for rows in (by_sql, by_python):
        [row] = [r for r in rows if r["x_EventId"] == "e-cache"]
        assert str(row["ConsumedQuantity"]) == "3610"
        assert str(row["PricingQuantity"]) == "3610"
