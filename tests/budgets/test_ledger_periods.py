"""The closed-month rule of the kernel: which month an entry is posted in."""

from datetime import UTC, date, datetime

from django.utils import timezone

from budgets.ledger import EntryRow, entries_copy, entry_post, next_month, posting
from budgets.models import EntryKind, LedgerEntry, MonthClose
from tests.factories import BudgetFactory

OCTOBER, NOVEMBER, DECEMBER = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.get_default_timezone())


def test_posting_moves_a_closed_months_entry_to_the_next_open_month():
    closed = frozenset({OCTOBER, NOVEMBER})
    assert posting(at(2026, 9, 30, 23, 59), closed) == (date(2026, 9, 1), None)
    assert posting(at(2026, 10, 1, 0, 0), closed) == (DECEMBER, OCTOBER)
    assert posting(at(2026, 11, 30, 23, 59), closed) == (DECEMBER, NOVEMBER)
    assert posting(at(2026, 12, 1, 0, 0), closed) == (DECEMBER, None)
    assert next_month(date(2026, 12, 1)) == date(2027, 1, 1)


def test_the_company_zone_decides_the_month():
    # 03:00 UTC on December 1 is still November 30 in New York
    moment = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert posting(moment, frozenset()).period == NOVEMBER


def test_bulk_entries_for_a_closed_month_are_posted_late(db):
    # given November closed
    MonthClose.objects.create(month=NOVEMBER)
    budget = BudgetFactory()
    # when the bulk path writes an entry dated in November and one in December
    entries_copy(
        [
            EntryRow(budget.pk, EntryKind.ADJUSTMENT, 5, "late", at(2026, 11, 20, 9)),
            EntryRow(budget.pk, EntryKind.ADJUSTMENT, 7, "on time", at(2026, 12, 2, 9)),
        ]
    )
    # then November's goes to December, marked late; December's is December's
    placed = dict(LedgerEntry.objects.values_list("memo", "period"))
    assert placed == {"late": DECEMBER, "on time": DECEMBER}
    assert LedgerEntry.objects.get(memo="late").late_for == NOVEMBER
    assert LedgerEntry.objects.get(memo="on time").late_for is None


def test_a_single_entry_is_posted_in_its_month(db):
    budget = BudgetFactory()
    entry = entry_post(budget=budget, kind=EntryKind.ALLOCATION, amount_micros=10, acting_user=None)
    assert entry.period == timezone.localdate(entry.created_at).replace(day=1)
    assert entry.late_for is None
