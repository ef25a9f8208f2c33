"""A budget row held by another transaction: a usage batch waits at most its lock timeout,
then answers JSON 503 "busy, retry" with Retry-After, and nothing of it is written."""

import json
import time

import pytest
from django.db import OperationalError, connection, transaction

from budgets.models import Budget, LedgerEntry, Reservation, UsageEvent
from common.db import is_wait_timeout, session_waits_bounded, waits_bounded
from tests.factories import UserFactory
from tests.reliability.conftest import needs_postgresql

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), needs_postgresql]
URL = "/api/v1/usage/"


def test_a_held_budget_row_makes_a_usage_batch_a_fast_503_and_nothing_is_written(
    client, settings, other_session, engineer_budget, usage_events, gateway_key
):
    settings.ALLOT_USAGE_LOCK_TIMEOUT_MS = 300
    # given another transaction holding the engineer's budget row
    other_session.execute(
        "SELECT id FROM budgets_budget WHERE id = %s FOR UPDATE", [engineer_budget.pk]
    )

    # when a gateway posts a batch for that engineer
    started = time.monotonic()
    response = client.post(
        URL,
        json.dumps({"events": usage_events(3)}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {gateway_key}",
    )
    waited = time.monotonic() - started
    other_session.rollback()

    # then it is told to retry, soon, in JSON, and nothing of the batch exists
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json()["code"] == "busy"
    assert waited < 3
    assert UsageEvent.objects.count() == 0
    assert LedgerEntry.objects.filter(kind="usage").count() == 0

    # and the retry, with the row free, is whole
    retried = client.post(
        URL,
        json.dumps({"events": usage_events(3)}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {gateway_key}",
    )
    assert retried.json()["accepted"] == 3
    budget = Budget.objects.get(pk=engineer_budget.pk)
    assert budget.spent_micros == sum(UsageEvent.objects.values_list("cost_micros", flat=True))


def test_waits_bounded_raises_a_wait_timeout_the_api_names_busy(other_session, engineer_budget):
    other_session.execute(
        "SELECT id FROM budgets_budget WHERE id = %s FOR UPDATE", [engineer_budget.pk]
    )
    started = time.monotonic()
    with (
        pytest.raises(OperationalError) as raised,
        transaction.atomic(),
        waits_bounded(lock_ms=200, statement_ms=5000),
    ):
        Budget.objects.select_for_update().get(pk=engineer_budget.pk)
    other_session.rollback()

    assert is_wait_timeout(raised.value)
    assert time.monotonic() - started < 2


def test_a_held_budget_row_makes_authorize_with_a_hold_a_fast_503_and_holds_nothing(
    client, settings, other_session, engineer_budget, gateway_key
):
    settings.ALLOT_AUTHORIZE_LOCK_TIMEOUT_MS = 300
    body = json.dumps(
        {"employee": "eng@example.com", "estimated_cost_usd": "1.00", "reserve": True}
    )
    # given another transaction holding the engineer's budget row (an ingest, a rollover)
    other_session.execute(
        "SELECT id FROM budgets_budget WHERE id = %s FOR UPDATE", [engineer_budget.pk]
    )

    # when a gateway asks to hold: the hot path skips the busy row, the locked path waits 300 ms
    started = time.monotonic()
    response = client.post(
        "/api/v1/authorize/",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {gateway_key}",
    )
    waited = time.monotonic() - started
    other_session.rollback()

    # then it is told to retry, soon, in JSON, and nothing is held
    assert response.status_code == 503
    assert response["Retry-After"] == "1" and response.json()["code"] == "busy"
    assert waited < 3
    assert not Reservation.objects.exists()
    assert Budget.objects.get(pk=engineer_budget.pk).reserved_micros == 0

    # and with the row free the same call holds, once
    retried = client.post(
        "/api/v1/authorize/",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {gateway_key}",
    )
    assert retried.status_code == 200 and retried.json()["reservation"]
    assert Budget.objects.get(pk=engineer_budget.pk).reserved_micros == 1_000_000


def _session_setting(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s)", [name])
        return cursor.fetchone()[0]


def test_an_admin_page_waits_at_most_its_own_bound_then_says_try_again(
    client, settings, other_session, engineer_budget
):
    settings.ALLOT_ADMIN_LOCK_TIMEOUT_MS = 300
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    before = _session_setting("lock_timeout")
    # given another transaction holding the budgets table whole
    other_session.execute("LOCK TABLE budgets_budget IN ACCESS EXCLUSIVE MODE")

    # when finance opens the budgets' list in the admin
    started = time.monotonic()
    response = client.get("/admin/budgets/budget/")
    waited = time.monotonic() - started
    other_session.rollback()

    # then the page says to try again, soon, and the session's own bounds are back
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert "try again" in response.content.decode()
    assert waited < 3
    assert _session_setting("lock_timeout") == before
    # and with the table free the page opens
    assert client.get("/admin/budgets/budget/").status_code == 200


def test_session_waits_bounded_sets_the_bounds_for_its_block_and_puts_them_back():
    before = (_session_setting("lock_timeout"), _session_setting("statement_timeout"))
    with session_waits_bounded(lock_ms=1500, statement_ms=90_000):
        inside = (_session_setting("lock_timeout"), _session_setting("statement_timeout"))
        with transaction.atomic():  # a transaction inside the block has them too
            in_transaction = _session_setting("lock_timeout")
    after = (_session_setting("lock_timeout"), _session_setting("statement_timeout"))

    assert inside == ("1500ms", "90s")
    assert in_transaction == "1500ms"
    assert after == before
