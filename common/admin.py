from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.templatetags import admin_list
from django.contrib.admin.utils import display_for_field, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin

from common.money import MicrosField, format_usd_exact


def money_display_for_field(value, field, empty_value_display, avoid_link=False):
    """Django's display of a stored value, with money (a MicrosField) as '$150,000.00' instead
    of its micro-units ('150,000,000,000'): read-only fields, view-only pages and list columns."""
    if isinstance(field, MicrosField) and isinstance(value, int) and not field.flatchoices:
        return format_usd_exact(value)
    return display_for_field(value, field, empty_value_display, avoid_link=avoid_link)


def money_display_install() -> None:
    """The admin's read-only displays and list columns call display_for_field by the name they
    imported it under; each is pointed at money_display_for_field once, when the apps load."""
    helpers.display_for_field = money_display_for_field
    admin_list.display_for_field = money_display_for_field


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records made only by services (usage, reservations, alerts, decisions): look, never
    add, change or delete in the admin."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class HistoryAdmin(SimpleHistoryAdmin):
    """django-simple-history's admin, with history to read and never to write back.

    Its "revert" page saves a past version whole on POST, checking only that the user may view
    the record, and writing back fields the change form keeps read-only (a price, an agreed
    budget, a control on the company settings). A change goes through the change form and its
    services instead, for everyone, superusers included."""

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            raise PermissionDenied("Past versions are for reading: change the record itself.")
        return super().history_form_view(request, object_id, version_id, extra_context)

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def history_view(self, request, object_id, extra_context=None):
        try:  # simple_history looks the id up unconverted: "abc" for an integer key was a 500
            self.model._meta.pk.to_python(unquote(object_id))
        except ValidationError as exc:
            raise Http404("No such record.") from exc
        return super().history_view(request, object_id, extra_context)
