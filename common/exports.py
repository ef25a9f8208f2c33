"""Admin imports and exports (django-import-export) that never write a formula: every admin that
exports derives from SpreadsheetExportAdmin and every resource from SpreadsheetSafeResource
(tests/trust/test_formula_safe_exports.py checks both for every registered admin)."""

from import_export import resources
from import_export.admin import ImportExportModelAdmin
from import_export.formats.base_formats import CSV, TSV, XLSX

from common.csvsafe import spreadsheet_cell, spreadsheet_text_unquoted

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


class SpreadsheetExportAdmin(ImportExportModelAdmin):
    """ImportExportModelAdmin offering only the spreadsheet formats, with formula-safe cells
    even for a model that names no resource of its own."""

    formats = SPREADSHEET_FORMATS

    def get_resource_classes(self, request):
        if not self.resource_classes:
            return [
                resources.modelresource_factory(self.model, resource_class=SpreadsheetSafeResource)
            ]
        return super().get_resource_classes(request)
