"""A leaver from the identity provider, end to end: SCIM PATCH `active: false` -> authorize
refuses them -> their held reservations are released -> their budgets' unused money is
forfeited, once, even when the provider sends the PATCH twice (one after the other here, at
the same moment on PostgreSQL below)."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import close_old_connections, connection
from django.test import Client

from budgets.authorize import authorize
from budgets.models import EntryKind, LedgerEntry, Reservation, ReservationState
from people.models import Employee
from tests.factories import EmployeeFactory, price
from tests.people.test_leavers import budget_of, ledger_matches, spend
from tests.provisioning.helpers import Scim, token

K = 10**6
DEACTIVATE = {"op": "replace", "path": "active", "value": False}


def a_leaver_with_a_hold():
    price()
    leaver = EmployeeFactory(user__email="leaver@example.com")
    budget = budget_of(leaver, 1_000)
    spend(leaver, "e-1", 300)
    held = authorize(employee=leaver, estimated_cost_micros=50 * K, reserve=True, request_id="r1")
    assert held.allowed and held.reservation is not None
    return leaver, budget, held.reservation


def closed_once(leaver: Employee, budget, hold) -> None:
    leaver.refresh_from_db()
    assert not leaver.is_active and not leaver.user.is_active and leaver.left_on
    refused = authorize(employee=leaver, estimated_cost_micros=1 * K)
    assert not refused.allowed and "not an active employee" in refused.reason
    hold.refresh_from_db()
    assert hold.state == ReservationState.RELEASED
    budget.refresh_from_db()
    assert (budget.allocated_micros, budget.spent_micros, budget.reserved_micros) == (
        300 * K,
        300 * K,
        0,
    )
    forfeits = LedgerEntry.objects.filter(kind=EntryKind.FORFEITURE)
    assert [(f.budget_id, f.amount_micros) for f in forfeits] == [(budget.pk, -700 * K)]
    assert forfeits[0].acting_user.username.startswith("root-")  # the token's creator
    assert Reservation.objects.filter(state=ReservationState.HELD).count() == 0
    ledger_matches(budget)


@pytest.mark.django_db
def test_patch_active_false_closes_the_leaver_once(client):
    leaver, budget, hold = a_leaver_with_a_hold()
    scim = Scim(client, token())
    for _ in range(2):  # the provider retries: the second changes nothing
        response = scim.patch(f"Users/{leaver.user_id}", DEACTIVATE)
        assert response.status_code == 200, response.content
        assert response.json()["active"] is False
    closed_once(leaver, budget, hold)
    # the person stays, visible to SCIM as inactive
    assert scim.get(f"Users/{leaver.user_id}").json()["active"] is False


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks and concurrent writers need PostgreSQL; SQLite serialises writers",
)
def test_two_patches_at_the_same_moment_close_the_leaver_once():
    leaver, budget, hold = a_leaver_with_a_hold()
    raw = token()
    barrier = Barrier(2)

    def send(_):
        scim = Scim(Client(), raw)
        barrier.wait()
        try:
            return scim.patch(f"Users/{leaver.user_id}", DEACTIVATE).status_code
        finally:
            close_old_connections()
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(send, [1, 2]))
    assert statuses == [200, 200]
    closed_once(leaver, budget, hold)
