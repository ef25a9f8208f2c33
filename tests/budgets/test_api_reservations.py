"""POST /api/v1/reservations/<id>/release/: a gateway gives back the hold of a call that failed."""

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Event

import pytest
from django.db import connection, transaction
from django.utils import timezone

from budgets.authorize import authorize
from budgets.models import Budget, Enforcement, Reservation, ReservationState
from budgets.rollover import reservations_release_expired
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_ingest
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, api_key


def hard_budget(employee, dollars):
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=employee)
    Budget.objects.filter(pk=budget.pk).update(enforcement=Enforcement.HARD)
    budget_allocate(budget=budget, amount_micros=dollars * 10**6, acting_user=None)
    return budget


def hold(client, key, dollars="6", request_id=""):
    body = {"employee": "eng@example.com", "estimated_cost_usd": dollars, "reserve": True}
    if request_id:
        body["request_id"] = request_id
    answer = client.post(
        "/api/v1/authorize/",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    ).json()
    assert answer["allowed"], answer
    return answer["reservation"]["id"]


def release(client, key, reservation_id):
    return client.post(
        f"/api/v1/reservations/{reservation_id}/release/", HTTP_AUTHORIZATION=f"Api-Key {key}"
    )


@pytest.mark.django_db
def test_a_release_gives_the_hold_back_at_once_and_twice_is_the_same_answer(client):
    employee = EmployeeFactory(user__email="eng@example.com")
    budget = hard_budget(employee, 10)
    key = api_key()
    reservation_id = hold(client, key)
    budget.refresh_from_db()
    assert budget.reserved_micros == 6 * 10**6

    first = release(client, key, reservation_id)
    second = release(client, key, reservation_id)
    budget.refresh_from_db()

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["state"] == "released" and first.json()["amount_usd"] == "6.000000"
    assert first.json()["budget"]["id"] == budget.pk
    assert (budget.reserved_micros, budget.spent_micros) == (0, 0)  # released once, not twice
    assert Reservation.objects.get(pk=reservation_id).state == ReservationState.RELEASED
    # the room is back: a second $6 hold fits again
    assert hold(client, key)


@pytest.mark.django_db
def test_usage_cannot_settle_a_released_hold(client):
    hard_budget(EmployeeFactory(user__email="eng@example.com"), 10)
    key = api_key()
    reservation_id = hold(client, key)
    release(client, key, reservation_id)

    result = usage_ingest(
        source="gateway",
        events=[
            {
                "id": "after-release",
                "employee": "eng@example.com",
                "model": "x",
                "input_tokens": 1,
                "output_tokens": 1,
                "cost_usd": "1",
                "occurred_at": timezone.now().isoformat(),
                "reservation": reservation_id,
            }
        ],
    )
    assert "already released" in result.rejected[0]["errors"]["reservation"][0]


@pytest.mark.django_db
def test_a_settled_hold_is_a_409_and_an_expired_one_answers_its_final_state(client):
    employee = EmployeeFactory(user__email="eng@example.com")
    budget = hard_budget(employee, 10)
    key = api_key()
    settled_id = hold(client, key, "2")
    expired_id = hold(client, key, "3")
    usage_ingest(
        source="gateway",
        events=[
            {
                "id": "settles",
                "employee": "eng@example.com",
                "model": "x",
                "input_tokens": 1,
                "output_tokens": 1,
                "cost_usd": "1.5",
                "occurred_at": timezone.now().isoformat(),
                "reservation": settled_id,
            }
        ],
    )
    Reservation.objects.filter(pk=expired_id).update(expires_at=timezone.now())
    assert reservations_release_expired(now=timezone.now() + timedelta(seconds=1)) == 1

    settled = release(client, key, settled_id)
    expired = release(client, key, expired_id)
    budget.refresh_from_db()

    assert settled.status_code == 409 and "already settled" in settled.json()["detail"]
    assert expired.status_code == 200 and expired.json()["state"] == "expired"
    assert (budget.spent_micros, budget.reserved_micros) == (1_500_000, 0)


@pytest.mark.django_db
def test_unknown_ids_another_keys_hold_and_the_wrong_scope_are_refused(client):
    hard_budget(EmployeeFactory(user__email="eng@example.com"), 10)
    key = api_key()
    reservation_id = hold(client, key)

    assert release(client, key, uuid.uuid4()).status_code == 404
    assert release(client, key, "not-a-uuid").status_code == 404
    assert release(client, api_key(source="other-gateway"), reservation_id).status_code == 404
    assert release(client, api_key("ingest"), reservation_id).status_code == 403
    assert release(client, "wrong", reservation_id).status_code == 401
    assert Reservation.objects.get(pk=reservation_id).state == ReservationState.HELD


@pytest.mark.django_db
def test_the_release_is_in_the_api_schema(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/reservations/{reservation_id}/release/"]["post"]
    assert operation["operationId"] == "reservation_release"
    assert {"200", "404", "409"} <= set(operation["responses"])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="two writers at once need PostgreSQL's row locks"
)
def test_the_same_settling_event_sent_twice_at_once_is_a_duplicate_not_a_refusal():
    # given a hold, and its usage event sent twice at the same moment (a gateway retrying a
    # request that timed out while the first was still being written)
    employee = EmployeeFactory(user__email="eng@example.com")
    budget = hard_budget(employee, 10)
    reservation = authorize(
        employee=employee, estimated_cost_micros=2 * 10**6, reserve=True, source="gateway"
    ).reservation
    event = {
        "id": "settles-once",
        "employee": "eng@example.com",
        "model": "x",
        "input_tokens": 1,
        "output_tokens": 1,
        "cost_usd": "1.5",
        "occurred_at": timezone.now().isoformat(),
        "reservation": str(reservation.pk),
    }
    locked, release_lock = Event(), Event()

    def hold_the_reservation():  # both sends pass the duplicate check, then wait here
        try:
            with transaction.atomic():
                Reservation.objects.select_for_update().get(pk=reservation.pk)
                locked.set()
                release_lock.wait(10)
        finally:
            connection.close()

    def send(_):
        try:
            return usage_ingest(source="gateway", events=[event])
        finally:
            connection.close()

    with ThreadPoolExecutor(3) as pool:
        holder = pool.submit(hold_the_reservation)
        assert locked.wait(10)
        sends = [pool.submit(send, i) for i in range(2)]
        time.sleep(1)  # both are waiting for the reservation's lock
        release_lock.set()
        holder.result(timeout=10)
        results = [s.result(timeout=30) for s in sends]

    # then one charge, one duplicate, no refusal
    assert sorted((r.accepted, r.duplicates, len(r.rejected)) for r in results) == [
        (0, 1, 0),
        (1, 0, 0),
    ]
    budget.refresh_from_db()
    assert (budget.spent_micros, budget.reserved_micros) == (1_500_000, 0)
