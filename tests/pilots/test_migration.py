"""The employee's pilot flag becomes the cohort "Pilot (migrated)": the schema is taken back to
before the flag was removed, rows are made with the flag, and the migrations run forward."""

from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from pilots.models import ControlKind, PilotCohort

BEFORE = [("pilots", "0001_pilot_cohorts"), ("people", "0011_budget_indexing_policy")]


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


def leaves() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_flagged_people_become_the_migrated_cohort_from_their_first_budget_year():
    latest = leaves()
    try:
        apps = migrate(BEFORE).loader.project_state(BEFORE).apps
        settings_row, _ = apps.get_model("people", "CompanySettings").objects.get_or_create(pk=1)
        settings_row.fiscal_year_start_month = 4
        settings_row.save()
        Level = apps.get_model("people", "Level")
        User = apps.get_model("auth", "User")
        Employee = apps.get_model("people", "Employee")
        Budget = apps.get_model("budgets", "Budget")
        level = Level.objects.first()
        people = {}
        for name, flag in (("ada", True), ("lin", True), ("bo", False)):
            user = User.objects.create(username=name, email=f"{name}@example.com")
            people[name] = Employee.objects.create(
                user=user, level=level, hire_date=date(2020, 1, 6), pilot_cohort=flag
            )
        Budget.objects.create(employee=people["lin"], fiscal_year=2025)
        Budget.objects.create(employee=people["ada"], fiscal_year=2026)
        Budget.objects.create(employee=people["bo"], fiscal_year=2019)  # not flagged: no say

        migrate(latest)

        pilot = PilotCohort.objects.get(name="Pilot (migrated)")
        assert pilot.start == min(date(2025, 4, 1), timezone.localdate())
        assert pilot.end is None and pilot.control_kind == ControlKind.EVERYONE_ELSE
        emails = sorted(pilot.members.values_list("user__email", flat=True))
        assert emails == ["ada@example.com", "lin@example.com"]
    finally:
        migrate(latest)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_with_nobody_flagged_no_cohort_is_made():
    latest = leaves()
    try:
        migrate(BEFORE)
        migrate(latest)
        assert not PilotCohort.objects.exists()
    finally:
        migrate(latest)
