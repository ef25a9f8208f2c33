from django.contrib import admin

from common.admin import ReadOnlyAdmin
from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "message", "read_at", "emailed_at"]
    list_filter = ["read_at", "emailed_at"]
    search_fields = ["user__email", "message"]
    list_select_related = ["user"]
