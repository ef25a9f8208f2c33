"""Which accounting month an entry is posted in: the closed-month rule, in one place.

An entry belongs to the month it happened in (company zone) unless finance has closed that
month; then it is posted in the next open month and marked late with the month it belonged to,
so a closed month's ledger, and the journal exported from it, never changes.

Writers read the closed months under a shared advisory lock that lasts until their transaction
ends, and closing takes the same lock exclusively (PostgreSQL): a close waits for the writers
that read the months before it, and a writer that starts during a close sees it.
"""

from datetime import date, datetime
from typing import NamedTuple

from django.db import connection
from django.utils import timezone

from budgets.models import MonthClose

# pg_advisory_xact_lock key for "the set of closed months" ("allotmon").
CLOSED_MONTHS_LOCK = 0x616C6C6F746D6F6E


class Posting(NamedTuple):
    """The month an entry is posted in, and the closed month it belonged to when late."""

    period: date
    late_for: date | None = None


def month_of(moment: datetime | date) -> date:
    """The first day of the company-zone month of a moment (or of a day)."""
    day = timezone.localdate(moment) if isinstance(moment, datetime) else moment
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def closed_months() -> frozenset[date]:
    """The closed months, read under the shared lock (held to the end of the transaction)."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [CLOSED_MONTHS_LOCK])
    return frozenset(MonthClose.objects.values_list("month", flat=True))


def closed_months_lock() -> None:
    """Closing or reopening a month: wait for the writers that read the closed months, and hold
    new ones off until this transaction ends (PostgreSQL; SQLite writes one at a time)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CLOSED_MONTHS_LOCK])


def posting(happened: datetime | date, closed: frozenset[date]) -> Posting:
    """Where an entry that happened at `happened` is posted, given the closed months."""
    month = month_of(happened)
    if month not in closed:
        return Posting(month)
    period = next_month(month)
    while period in closed:
        period = next_month(period)
    return Posting(period, late_for=month)
