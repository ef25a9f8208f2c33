"""What the admin's employee list exports (CSV, XLSX, TSV; the list's filters and search applied):
the import's columns first, with the same names and formats (a team as "Department / Team" when
two departments share its name), so a file exported, edited and imported back names the same
people; then whether they are active and their agreed annual budget in dollars, which the import
ignores (the budget is set by an accepted offer or a superuser, never by a file)."""

from import_export import fields
from import_export.widgets import BooleanWidget, DateWidget

from common.exports import DollarsField, SpreadsheetSafeResource
from people.imports import COLUMNS, TeamByNameWidget
from people.models import Employee


class EmployeeExportResource(SpreadsheetSafeResource):
    email = fields.Field(column_name="email", attribute="user__email", readonly=True)
    first_name = fields.Field(column_name="first_name", attribute="user__first_name", readonly=True)
    last_name = fields.Field(column_name="last_name", attribute="user__last_name", readonly=True)
    level = fields.Field(column_name="level", attribute="level__name", readonly=True)
    team = fields.Field(
        column_name="team", attribute="team", widget=TeamByNameWidget(required=False)
    )
    manager_email = fields.Field(
        column_name="manager_email", attribute="manager__user__email", readonly=True
    )
    hire_date = fields.Field(
        column_name="hire_date", attribute="hire_date", widget=DateWidget("%Y-%m-%d")
    )
    is_active = fields.Field(column_name="is_active", attribute="is_active", widget=BooleanWidget())
    annual_budget = DollarsField(column_name="annual_budget_usd", attribute="annual_budget_micros")

    class Meta:
        model = Employee
        fields = (*COLUMNS, "is_active", "annual_budget")
        export_order = fields
