"""Holds an authorize call puts on a budget until the usage arrives."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from budgets.models.budget import Budget
from common.money import MicrosField, format_usd
from people.models import Employee


class ReservationState(models.TextChoices):
    HELD = "held", "Held"
    SETTLED = "settled", "Settled"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class Reservation(models.Model):
    """An estimate held against a budget by authorize; a usage event settles it, or it expires."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    budget = models.ForeignKey(Budget, on_delete=models.PROTECT, related_name="reservations")
    employee = models.ForeignKey(Employee, on_delete=models.PROTECT, related_name="reservations")
    amount_micros = MicrosField("held (USD)")
    state = models.CharField(
        max_length=10, choices=ReservationState.choices, default=ReservationState.HELD
    )
    source = models.CharField(max_length=100, blank=True)
    request_id = models.CharField(
        max_length=100, blank=True, help_text="The caller's id: a retried authorize holds once."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_micros__gt=0), name="reservation_amount_positive"
            ),
            models.UniqueConstraint(
                fields=["source", "request_id"],
                condition=~Q(request_id=""),
                name="reservation_once_per_request_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{format_usd(self.amount_micros)} on {self.budget} ({self.state})"
