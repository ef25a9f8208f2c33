"""Productivity metrics uploaded as CSV in the admin (django-import-export)."""

from datetime import date
from decimal import Decimal

import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from people.models import Department
from reporting.admin import ProductivityMetricResource
from reporting.models import ProductivityMetric
from tests.factories import TeamFactory, finance_user


@pytest.fixture
def teams(db):
    data = Department.objects.create(name="Data")
    web = Department.objects.create(name="Web")
    return TeamFactory(name="Core", department=data), TeamFactory(name="Core", department=web)


def rows(*lines):
    return tablib.Dataset(*lines, headers=["team", "month", "metric", "value"])


def test_a_csv_creates_then_updates_without_duplicates(teams):
    data_core, web_core = teams
    dataset = rows(
        ("Data / Core", "2026-04", "merged_pull_requests", "42"),
        ("Web / Core", "2026-04-01", "merged_pull_requests", "17.5"),
    )
    result = ProductivityMetricResource().import_data(dataset, dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors()
    assert ProductivityMetric.objects.get(team=data_core).value == Decimal("42")
    assert ProductivityMetric.objects.get(team=web_core).month == date(2026, 4, 1)
    again = rows(("Data / Core", "2026-04", "merged_pull_requests", "43"))
    ProductivityMetricResource().import_data(again, dry_run=False)
    assert ProductivityMetric.objects.count() == 2
    assert ProductivityMetric.objects.get(team=data_core).value == Decimal("43")


def test_bad_rows_are_reported_and_nothing_is_saved(teams):
    dataset = rows(
        ("Core", "2026-04", "merged_pull_requests", "1"),  # two teams are named Core
        ("Nope", "2026-04", "merged_pull_requests", "1"),
        ("Data / Core", "2026-04-15", "merged_pull_requests", "1"),
        ("Data / Core", "2026-05", "merged_pull_requests", "-3"),
    )
    result = ProductivityMetricResource().import_data(dataset, dry_run=True)
    assert result.has_validation_errors() or result.has_errors()
    # each of the four rows is refused (ambiguous team, unknown team, not a month, negative)
    assert len(result.invalid_rows) + len(result.row_errors()) == 4
    assert not ProductivityMetric.objects.exists()


def test_finance_uploads_in_the_admin(client, teams):
    client.force_login(finance_user())
    upload = SimpleUploadedFile(
        "metrics.csv",
        b"team,month,metric,value\nData / Core,2026-04,shipped_features,3\n",
        content_type="text/csv",
    )
    response = client.post(
        reverse("admin:reporting_productivitymetric_import"),
        {"import_file": upload, "format": "0"},
    )
    assert response.status_code == 200
    assert "confirm" in response.content.decode().lower()
    assert client.get(reverse("admin:reporting_productivitymetric_changelist")).status_code == 200


def test_an_export_quotes_formula_like_names_and_imports_back_unchanged(db):
    # given a metric whose department, team and name start like spreadsheet formulas
    team = TeamFactory(name="=Core", department=Department.objects.create(name="+Data"))
    ProductivityMetric.objects.create(
        team=team, month=date(2026, 4, 1), metric="@merged", value=Decimal("4")
    )
    # when it is exported as CSV
    exported = ProductivityMetricResource().export()
    # then each such cell is quoted, so a spreadsheet shows it as text
    assert exported.dict[0]["team"] == "'+Data / =Core"
    assert exported.dict[0]["metric"] == "'@merged"
    # and the file imported back names the same team and metric: nothing new, nothing changed
    again = tablib.Dataset().load(exported.csv, format="csv")
    result = ProductivityMetricResource().import_data(again, dry_run=False)
    assert not result.has_errors() and not result.has_validation_errors()
    assert list(ProductivityMetric.objects.values_list("team", "metric", "value")) == [
        (team.pk, "@merged", Decimal("4"))
    ]
