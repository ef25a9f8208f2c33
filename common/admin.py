from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records made only by services (usage, reservations, alerts, decisions): look, never
    add, change or delete in the admin."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
