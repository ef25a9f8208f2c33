"""The kinds of message: each has its own subject and the page it is acted on. Apps above
import this (never the models) to say what they send."""

from django.db import models


class Kind(models.TextChoices):
    """What a message is about: each kind has its own subject and the page it is acted on."""

    THRESHOLD = "threshold", "Budget threshold"
    PROJECTED = "projected", "Projected exhaustion"
    REQUEST_WAITING = "request_waiting", "Request waiting"
    REQUEST_DECIDED = "request_decided", "Request decided"
    DELEGATION = "delegation", "Delegation"
    ROLLOVER = "rollover", "Rollover"
    REPORT = "report", "Report ready"
    RECONCILIATION = "reconciliation", "Reconciliation gap"
    OTHER = "other", "Other"
