"""Reads of the connectors' data that other screens show."""

from django.db.models import Count, Sum

from common.money import Micros
from connectors.models import UnassignedUsage


def unassigned_totals() -> tuple[int, Micros]:
    """How many usage buckets wait in the unassigned queue, and their amount where it is known
    (the company overview's figure: budgets.overview.UNASSIGNED_SOURCES)."""
    held = UnassignedUsage.objects.aggregate(count=Count("pk"), total=Sum("estimated_micros"))
    return held["count"], held["total"] or 0
