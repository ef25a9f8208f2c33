"""The employee's single pilot flag becomes a named cohort.

Everyone with `pilot_cohort=True` becomes a member of one cohort, "Pilot (migrated)", compared
with everyone not in it (the old report's "everyone else"). Its start is the earliest of: the
first day of the earliest fiscal year any of them holds a personal budget for, and today (the
company's day when the migration runs): the flag carried no date, and a pilot cannot honestly
be said to have started before the first budget year its people were in. No end: HR sets it.
With nobody flagged, nothing is made."""

from django.db import migrations
from django.utils import timezone

from common.fiscal import fiscal_year_period

MIGRATED_NAME = "Pilot (migrated)"


def pilot_flag_migrate(apps, schema_editor) -> None:
    Employee = apps.get_model("people", "Employee")
    Budget = apps.get_model("budgets", "Budget")
    CompanySettings = apps.get_model("people", "CompanySettings")
    PilotCohort = apps.get_model("pilots", "PilotCohort")
    PilotMembership = apps.get_model("pilots", "PilotMembership")
    flagged = list(Employee.objects.filter(pilot_cohort=True).values_list("pk", flat=True))
    if not flagged:
        return
    start = timezone.localdate()
    first_year = (
        Budget.objects.filter(employee_id__in=flagged)
        .order_by("fiscal_year")
        .values_list("fiscal_year", flat=True)
        .first()
    )
    if first_year is not None:
        settings_row = CompanySettings.objects.filter(pk=1).first()
        start_month = settings_row.fiscal_year_start_month if settings_row else 1
        start = min(start, fiscal_year_period(first_year, start_month).start)
    cohort = PilotCohort.objects.create(
        name=MIGRATED_NAME,
        description="Everyone who had the employee's pilot flag when pilots got their own "
        "cohorts; the start date is the earliest budget year they held (see the migration).",
        start=start,
        status="running",
        control_kind="everyone_else",
    )
    PilotMembership.objects.bulk_create(
        PilotMembership(cohort=cohort, employee_id=pk) for pk in flagged
    )


def pilot_cohort_flag_restore(apps, schema_editor) -> None:
    Employee = apps.get_model("people", "Employee")
    PilotMembership = apps.get_model("pilots", "PilotMembership")
    members = PilotMembership.objects.filter(cohort__name=MIGRATED_NAME).values("employee_id")
    Employee.objects.filter(pk__in=members).update(pilot_cohort=True)


class Migration(migrations.Migration):
    dependencies = [
        ("pilots", "0001_pilot_cohorts"),
        ("budgets", "0012_rollover_interrupted_and_resumes"),
    ]

    operations = [migrations.RunPython(pilot_flag_migrate, pilot_cohort_flag_restore)]
