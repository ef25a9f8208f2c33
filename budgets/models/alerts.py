"""Threshold alerts claimed once per budget (their notifications: notifications.models)."""

from django.db import models
from django.utils import timezone

from budgets.models.budget import Budget


class AlertKind(models.TextChoices):
    THRESHOLD = "threshold", "Threshold reached"
    PROJECTED = "projected", "Projected to run out"


class AlertDelivery(models.TextChoices):
    """Whether anyone was told: one message per event, for the highest threshold it crossed."""

    SENT = "sent", "Told"
    COVERED = "covered", "Covered by a higher threshold's message"
    BASELINE = "baseline", "Already passed when created or imported; nobody told"


class AlertClaim(models.Model):
    """One row per alert that fired: the unique constraint makes each fire once per budget, even
    with several workers checking at the same time. Budgets are per fiscal year, so is this."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    threshold = models.PositiveSmallIntegerField(
        default=0, help_text="Percent for threshold alerts; 0 for projections."
    )
    message = models.CharField(max_length=300)
    delivery = models.CharField(
        max_length=10, choices=AlertDelivery.choices, default=AlertDelivery.SENT
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "kind", "threshold"], name="alert_fires_once"
            ),
        ]

    def __str__(self) -> str:
        return self.message
