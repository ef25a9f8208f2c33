from django.contrib import admin, messages

from common.admin import ReadOnlyAdmin
from notifications.models import Notification, SlackSettings, WebhookDelivery, WebhookEndpoint
from notifications.webhooks import webhook_publish


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "subject", "read_at", "emailed_at", "done_at"]
    list_filter = ["kind", "read_at", "emailed_at", "done_at"]
    search_fields = ["user__email", "message", "subject"]
    list_select_related = ["user"]


class DeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ["event", "state", "attempts", "response_code", "error", "last_attempt_at"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-created_at"]
    show_change_link = True


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Integrators' endpoints: URL, the event types they want, the signing secret; the last
    deliveries below each; "Send a test event" sends a signed ping."""

    list_display = ["url", "description", "events", "active", "created_at"]
    list_filter = ["active"]
    inlines = [DeliveryInline]
    actions = ["send_test"]

    @admin.action(description="Send a test event (ping)")
    def send_test(self, request, queryset):
        endpoints = list(queryset)
        event = webhook_publish("ping", {"message": "A test from Allot"}, endpoints=endpoints)
        self.message_user(
            request,
            f"Test event {event.id} queued to {len(endpoints)} endpoint(s); "
            "see each endpoint's deliveries.",
            messages.SUCCESS,
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "endpoint",
        "event",
        "state",
        "attempts",
        "response_code",
        "last_attempt_at",
        "next_attempt_at",
    ]
    list_filter = ["state", "endpoint"]
    list_select_related = ["endpoint", "event"]
    search_fields = ["event__id", "event__type"]


@admin.register(SlackSettings)
class SlackSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "team_channel", "active"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not SlackSettings.objects.exists()
