from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin


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
