from django.contrib import admin
from django.utils.html import format_html
from import_export import fields
from import_export.widgets import DateWidget

from common.admin import ReadOnlyAdmin
from common.exports import SpreadsheetExportAdmin, SpreadsheetSafeResource
from people.imports import TeamByNameWidget
from reporting.models import ProductivityMetric, ReportRun


class FirstOfMonthWidget(DateWidget):
    """Accepts 2026-04 or 2026-04-01; stores the first day of the month."""

    def __init__(self):
        super().__init__(format="%Y-%m-%d")

    def clean(self, value, row=None, **kwargs):
        text = str(value or "").strip()
        if len(text) == 7:
            text = f"{text}-01"
        day = super().clean(text, row, **kwargs)
        if day is not None and day.day != 1:
            raise ValueError("Give the month as YYYY-MM (or its first day, YYYY-MM-01).")
        return day


class ProductivityMetricResource(SpreadsheetSafeResource):
    """CSV columns: team, month, metric, value. A row for a team, month and metric already
    recorded updates it (importing the same file twice changes nothing)."""

    team = fields.Field(attribute="team", column_name="team", widget=TeamByNameWidget())
    month = fields.Field(attribute="month", column_name="month", widget=FirstOfMonthWidget())

    class Meta:
        model = ProductivityMetric
        fields = ("team", "month", "metric", "value")
        import_id_fields = ("team", "month", "metric")
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True


@admin.register(ProductivityMetric)
class ProductivityMetricAdmin(SpreadsheetExportAdmin):
    resource_classes = [ProductivityMetricResource]
    list_display = ["month", "team", "metric", "value", "recorded_at"]
    list_filter = ["metric", "month", "team__department"]
    list_select_related = ["team__department"]
    search_fields = ["team__name", "metric"]
    ordering = ["-month", "team__name", "metric"]
    autocomplete_fields = ["team"]


@admin.register(ReportRun)
class ReportRunAdmin(ReadOnlyAdmin):
    list_display = [
        "__str__",
        "state",
        "progress_percent",
        "trigger",
        "requested_by",
        "requested_at",
    ]
    list_filter = ["state", "trigger", "fiscal_year", ("month", admin.EmptyFieldListFilter)]
    list_select_related = ["requested_by"]
    exclude = ["snapshot"]
    readonly_fields = ["download"]

    @admin.display(description="files")
    def download(self, obj):
        if obj.pk is None or obj.state != "done":
            return "–"
        return format_html(
            '<a href="/reports/{}/pdf/">PDF</a> · <a href="/reports/{}/xlsx/">XLSX</a> · '
            '<a href="/reports/{}/csv/">CSV</a>',
            obj.pk,
            obj.pk,
            obj.pk,
        )


from reporting import month_admin  # noqa: E402,F401 - registers finance's month pages
