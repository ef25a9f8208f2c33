"""Ledger entries are append-only at every layer: ORM, admin, and the database itself."""

import pytest
from django.db import DatabaseError, connection, transaction

from budgets.models import LedgerEntry, LedgerImmutableError
from budgets.services import budget_allocate, budget_create
from tests.conftest import postgres_only
from tests.factories import EmployeeFactory, finance_user, hr_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry():
    budget, _ = budget_create(fiscal_year=2026, employee=EmployeeFactory())
    return budget_allocate(budget=budget, amount_micros=5_000_000, acting_user=None)


def test_orm_refuses_to_change_or_delete_an_entry(entry):
    entry.memo = "rewritten"
    with pytest.raises(LedgerImmutableError):
        entry.save()
    with pytest.raises(LedgerImmutableError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount_micros=1)
    with pytest.raises(LedgerImmutableError):
        LedgerEntry.objects.filter(pk=entry.pk).delete()


@postgres_only("the trigger is PostgreSQL's; on SQLite the ORM guard is the only one")
def test_postgres_refuses_raw_sql_update_and_delete(entry):
    for statement in (
        "UPDATE budgets_ledgerentry SET amount_micros = 1 WHERE id = %s",
        "DELETE FROM budgets_ledgerentry WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="Cannot update or delete"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [entry.pk])

    entry.refresh_from_db()
    assert entry.amount_micros == 5_000_000


@pytest.mark.parametrize("make_user", [hr_user, finance_user])
def test_admin_offers_no_way_to_change_or_delete_an_entry(client, entry, make_user):
    user = make_user()
    user.is_superuser = True  # even a superuser
    user.save()
    client.force_login(user)

    change = client.post(f"/admin/budgets/ledgerentry/{entry.pk}/change/", {"memo": "x"})
    delete = client.post(f"/admin/budgets/ledgerentry/{entry.pk}/delete/", {"post": "yes"})

    assert change.status_code in (403, 200)
    assert delete.status_code == 403
    entry.refresh_from_db()
    assert entry.memo == ""
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()
