"""Every export the admin offers goes through the formula-safe resource and formats, so an export
added later is safe by default (or this test says it is not). What they write is checked cell by
cell in test_formula_safe_exports.py."""

from django.contrib import admin

from common.exports import SpreadsheetExportMixin, SpreadsheetSafeResource
from reporting.models import ProductivityMetric


def test_every_admin_export_uses_the_formula_safe_resource_and_formats():
    # given every model admin that can export
    exporting = {
        model: model_admin
        for model, model_admin in admin.site._registry.items()
        if hasattr(model_admin, "get_export_resource_classes")
    }
    assert ProductivityMetric in exporting
    for model, model_admin in exporting.items():
        # then it is a formula-safe admin, offering only the checked spreadsheet formats
        assert isinstance(model_admin, SpreadsheetExportMixin), model
        extensions = [f().get_extension() for f in model_admin.get_export_formats()]
        assert extensions == ["csv", "xlsx", "tsv"], model
        # and each resource it exports with quotes formula-like cells
        for resource in model_admin.get_export_resource_classes(request=None):
            assert issubclass(resource, SpreadsheetSafeResource), (model, resource)
