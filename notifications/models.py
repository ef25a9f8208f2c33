"""What the web app shows a person, and the email that carries the same text."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from notifications.kinds import Kind

MESSAGE_LENGTH = 300


class Notification(models.Model):
    """One message to one person, shown in the app and emailed once (emailed_at is the claim)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    # A lazy reference, never an import: this app sits below budgets. The link makes an alert
    # tell each person once (the constraint below) and go, with its notifications, as one.
    alert = models.ForeignKey(
        "budgets.AlertClaim",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OTHER)
    subject = models.CharField(max_length=200, blank=True)
    message = models.CharField(max_length=MESSAGE_LENGTH)
    link = models.CharField(
        max_length=500, blank=True, help_text="The path of the page it is acted on, from the root."
    )
    # What the message asks about ("approvals.request:5:step:0"): when that is decided, every
    # message about it is marked done, in the app and in the digest.
    target = models.CharField(max_length=80, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_note = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "alert"], name="notification_once_per_user"),
        ]

    def __str__(self) -> str:
        return self.message


class NotificationPreference(models.Model):
    """How a person wants their emails: one by one (the default), or one digest a day."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    daily_digest = models.BooleanField(
        default=False,
        help_text="One email a day with everything new, instead of one email per message.",
    )

    def __str__(self) -> str:
        return f"{self.user}: {'daily digest' if self.daily_digest else 'each message'}"


class WebhookEndpoint(models.Model):
    """Where an integrator wants Allot's events: each delivery signed with the secret."""

    url = models.URLField(max_length=500, help_text="https:// address that receives a POST.")
    events = models.JSONField(
        default=list,
        blank=True,
        help_text='Event types to send, e.g. ["request.decided"]; empty: every type.',
    )
    secret = models.CharField(
        max_length=100, help_text="Shared secret for the Allot-Signature header (HMAC-SHA256)."
    )
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return self.description or self.url

    def wants(self, event_type: str) -> bool:
        return not self.events or event_type in self.events


class WebhookEvent(models.Model):
    """One event, with the id every delivery of it carries: a receiver drops repeats by it."""

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    type = models.CharField(max_length=50)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending (will try again)"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up after a day)"


class WebhookDelivery(models.Model):
    """One event to one endpoint: its tries, the last answer, and whether it got there."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint}: {self.get_state_display()}"


class SlackSettings(models.Model):
    """The company's Slack app, set in the admin: one row. With a bot token people get their
    messages as direct messages (found by their email); approvals add Approve / Reject buttons,
    answered at /slack/interactivity/, verified with the signing secret."""

    bot_token = models.CharField(max_length=200, blank=True, help_text="xoxb-… of the Slack app.")
    signing_secret = models.CharField(
        max_length=100, blank=True, help_text="The app's signing secret (Basic Information)."
    )
    team_channel = models.CharField(
        max_length=100, blank=True, help_text="Channel id for finance's messages, e.g. C0123."
    )
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name = verbose_name_plural = "Slack settings"

    def __str__(self) -> str:
        return "Slack" + ("" if self.active and self.bot_token else " (off)")
