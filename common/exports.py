"""Admin imports and exports (django-import-export) that never write a formula: every admin that
exports derives from SpreadsheetExportMixin (export only: SpreadsheetExportOnlyMixin; import and
export: SpreadsheetExportAdmin) and every resource from SpreadsheetSafeResource
(tests/trust/test_admin_exports.py and test_formula_safe_exports.py check both for every
registered admin)."""

from decimal import Decimal

from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from import_export import fields, resources
from import_export.admin import ExportMixin, ImportExportModelAdmin
from import_export.formats.base_formats import CSV, TSV, XLSX
from import_export.signals import post_export

from common.csvsafe import spreadsheet_cell, spreadsheet_text_unquoted
from common.export_stream import DELIMITERS, export_lines
from common.money import micros_to_dollars

# The spreadsheet formats, each checked by the test over all exports; CSV first, the default.
SPREADSHEET_FORMATS = [CSV, XLSX, TSV]


class SpreadsheetSafeResource(resources.ModelResource):
    """A resource whose every exported cell and header goes through `spreadsheet_cell`, after
    its widget rendered it (so in XLSX numbers and dates stay numbers and dates). On import, the
    quote that an export put before a formula character is taken off again, so a file exported,
    edited and imported back names the same teams and metrics."""

    def export_field(self, field, instance, **kwargs):
        return spreadsheet_cell(super().export_field(field, instance, **kwargs))

    def get_export_headers(self, selected_fields=None):
        return [spreadsheet_cell(header) for header in super().get_export_headers(selected_fields)]

    def before_import_row(self, row, **kwargs):
        for column, value in row.items():
            if isinstance(value, str):
                row[column] = spreadsheet_text_unquoted(value)
        super().before_import_row(row, **kwargs)


class DollarsField(fields.Field):
    """An export column in dollars (exact Decimal, six places) from a micro-units attribute: a
    number in XLSX, its digits ("-12.500000") in CSV. Export only: an import never sets money."""

    def get_value(self, instance) -> Decimal | None:
        micros = super().get_value(instance)
        return None if micros is None else micros_to_dollars(micros)

    def save(self, instance, row, is_m2m=False, **kwargs):
        raise NotImplementedError("Money is never imported; it moves through the ledger.")


class SpreadsheetExportMixin(ExportMixin):
    """Export from the admin's list, with its filters and search applied, in the spreadsheet
    formats, permission "view" (IMPORT_EXPORT_EXPORT_PERMISSION_CODE), formula-safe cells even
    for a model that names no resource of its own."""

    formats = SPREADSHEET_FORMATS

    def _do_file_export(self, file_format, request, queryset, export_form=None):
        """CSV and TSV stream (common.export_stream): the same columns and cells as the
        resource's export, with flat memory; XLSX is built whole, as a workbook must be."""
        delimiter = DELIMITERS.get(file_format.get_extension())
        if delimiter is None:
            return super()._do_file_export(file_format, request, queryset, export_form)
        if not self.has_export_permission(request):
            raise PermissionDenied
        resource = self.choose_export_resource_class(export_form, request)(
            **self.get_export_resource_kwargs(request, export_form=export_form)
        )
        selected = self.get_export_resource_fields_from_form(export_form)
        response = StreamingHttpResponse(
            export_lines(
                resource,
                queryset,
                selected,
                delimiter=delimiter,
                cells_plain=type(resource).export_field is SpreadsheetSafeResource.export_field,
            ),
            content_type=f"{file_format.get_content_type()}; charset=utf-8",
        )
        filename = self.get_export_filename(request, queryset, file_format)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        post_export.send(sender=None, model=self.model)
        return response

    def get_resource_classes(self, request):
        if not self.resource_classes:
            return [
                resources.modelresource_factory(self.model, resource_class=SpreadsheetSafeResource)
            ]
        return super().get_resource_classes(request)


class SpreadsheetExportOnlyMixin(SpreadsheetExportMixin):
    """Export and no import: for the ledger and usage, where an import would write money outside
    the ledger kernel. Put it before the ModelAdmin class it extends."""

    import_export_change_list_template = "admin/import_export/change_list_export.html"


class SpreadsheetExportAdmin(SpreadsheetExportMixin, ImportExportModelAdmin):
    """ImportExportModelAdmin offering only the spreadsheet formats, with formula-safe cells
    even for a model that names no resource of its own."""
