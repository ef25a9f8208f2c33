"""What the web app shows a person, and the email that carries the same text."""

from django.conf import settings
from django.db import models
from django.utils import timezone

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
    message = models.CharField(max_length=MESSAGE_LENGTH)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "alert"], name="notification_once_per_user"),
        ]

    def __str__(self) -> str:
        return self.message
