"""Follow-up work a request queued, stored in the request's own transaction until the relay has
handed it to the broker; and the workers' heartbeat the readiness check reads."""

from django.db import models
from django.utils import timezone


class OutboxMessage(models.Model):
    """One Celery task to send: written with the change that asked for it (so it exists exactly
    when that change committed), sent by the relay at least once, its handler idempotent."""

    task = models.CharField(max_length=200, help_text="The Celery task's registered name.")
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    # Work whose second copy adds nothing (an alert check of one budget) is queued once while
    # one is waiting: a busy hour of ingest queues one check per budget, not one per batch.
    coalesce_key = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    available_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(
                fields=["available_at"],
                condition=models.Q(sent_at__isnull=True),
                name="outbox_pending",
            ),
            models.Index(fields=["sent_at"], name="outbox_sent_at"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["coalesce_key"],
                condition=models.Q(sent_at__isnull=True) & ~models.Q(coalesce_key=""),
                name="outbox_pending_once_per_key",
            )
        ]

    def __str__(self) -> str:
        state = "sent" if self.sent_at else "pending"
        return f"{self.task}{tuple(self.args)} ({state})"


class WorkerBeat(models.Model):
    """The last time a periodic job ran in a worker (the relay, every few seconds): the
    readiness check's proof that beat, the broker and a worker all work."""

    name = models.CharField(max_length=60, primary_key=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
