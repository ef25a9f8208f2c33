"""Inputs that once broke a whole batch or answered 500; each must end in a clear error for
that event (or request) and leave the good ones recorded."""

import json
import time

import pytest
from django.utils import timezone

from budgets.authorize import authorize
from budgets.models import Budget, Enforcement, Reservation, UsageEvent
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_ingest
from common.errors import AllotError
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, UserFactory, api_key

pytestmark = pytest.mark.django_db


def good(n=0, **extra):
    return {
        "id": f"ok-{n}",
        "employee": "eng@example.com",
        "model": "m",
        "input_tokens": 1,
        "output_tokens": 1,
        "cost_usd": "0.01",
        "occurred_at": timezone.now().isoformat(),
        **extra,
    }


def nested(depth):
    value = {}
    for _ in range(depth):
        value = {"x": value}
    return value


@pytest.fixture
def engineer():
    return EmployeeFactory(user__email="eng@example.com")


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"employee": "\ud800"}, "employee"),
        ({"id": "a\x00b"}, "id"),
        ({"cost_usd": "1e1000000"}, "cost_usd"),
        ({"cost_usd": "NaN"}, "cost_usd"),
        ({"cost_usd": "-0.01"}, "cost_usd"),
        ({"metadata": {"x": "\x00"}}, "metadata"),
        ({"metadata": {"x": "\ud800"}}, "metadata"),
        ({"metadata": {"x": float("nan")}}, "metadata"),
        ({"metadata": nested(40)}, "metadata"),
        ({"input_tokens": 10**30}, "input_tokens"),
        ({"occurred_at": "1999-12-31T23:00:00Z"}, "occurred_at"),
    ],
)
def test_a_poisoned_event_is_rejected_and_the_good_one_kept(engineer, bad, field):
    result = usage_ingest(events=[good(1), {**good(2), **bad}])
    assert result.accepted == 1
    assert field in result.rejected[0]["errors"]
    assert UsageEvent.objects.filter(event_id="ok-1").exists()


def test_a_huge_exponent_is_refused_at_once():
    started = time.perf_counter()
    result = usage_ingest(events=[good(1, cost_usd="1e999990")] * 1)
    assert time.perf_counter() - started < 1
    assert "cost_usd" in result.rejected[0]["errors"]


def test_an_email_stored_with_capitals_still_matches(engineer):
    EmployeeFactory(
        user=UserFactory(username="Mixed.Case@Example.com", email="Mixed.Case@Example.com")
    )
    result = usage_ingest(
        events=[
            good(1, employee="Mixed.Case@Example.com"),
            good(2, employee="mixed.case@example.com"),
        ]
    )
    assert result.accepted == 2


def test_json_nested_beyond_python_is_a_400_not_a_500(client, engineer):
    body = '{"events": ' + "[" * 5000 + "]" * 5000 + "}"
    response = client.post(
        "/api/v1/usage/",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {api_key()}",
    )
    assert response.status_code == 400


def test_an_authorize_estimate_over_a_billion_is_a_400(client, engineer):
    response = client.post(
        "/api/v1/authorize/",
        json.dumps({"employee": "eng@example.com", "estimated_cost_usd": "5000000000"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {api_key()}",
    )
    assert response.status_code == 400


def test_a_retried_reservation_with_its_request_id_holds_once(engineer):
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=engineer)
    Budget.objects.filter(pk=budget.pk).update(enforcement=Enforcement.HARD)
    budget_allocate(budget=budget, amount_micros=10 * 10**6, acting_user=None)
    first = authorize(
        employee=engineer,
        estimated_cost_micros=6 * 10**6,
        reserve=True,
        source="gw",
        request_id="call-1",
    )
    retry = authorize(
        employee=engineer,
        estimated_cost_micros=6 * 10**6,
        reserve=True,
        source="gw",
        request_id="call-1",
    )
    assert first.allowed and retry.allowed
    assert first.reservation.pk == retry.reservation.pk
    assert Reservation.objects.count() == 1
    budget.refresh_from_db()
    assert budget.reserved_micros == 6 * 10**6


def test_a_request_id_reused_for_another_call_is_refused_and_holds_nothing(engineer, client):
    # given a $5 hold made with request id "call-1"
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=engineer)
    budget_allocate(budget=budget, amount_micros=10 * 10**6, acting_user=None)
    first = authorize(
        employee=engineer,
        estimated_cost_micros=5 * 10**6,
        reserve=True,
        source="gw",
        request_id="call-1",
    )
    # and someone else, whose hard budget has no money
    broke = EmployeeFactory(user=UserFactory(email="broke@example.com"))
    empty, _ = budget_create(fiscal_year=current_fiscal_year(), employee=broke)
    Budget.objects.filter(pk=empty.pk).update(enforcement=Enforcement.HARD)

    def call(employee: str, dollars: str) -> dict:
        response = client.post(
            "/api/v1/authorize/",
            json.dumps(
                {
                    "employee": employee,
                    "estimated_cost_usd": dollars,
                    "reserve": True,
                    "request_id": "call-1",
                }
            ),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {api_key(source='gw')}",
        )
        return response.status_code, response.json()

    # when the id comes back for another employee, or another estimate: a 409, nothing held,
    # and nothing of the first call's budget in the answer
    for employee, dollars in (("broke@example.com", "50"), ("eng@example.com", "7")):
        code, body = call(employee, dollars)
        assert code == 409, body
        assert body["field"] == "request_id" and "new request id" in body["detail"]
        assert "budget" not in body
    assert Reservation.objects.count() == 1
    # nor for a project the first call was not about
    from tests.factories import ProjectFactory

    project = ProjectFactory(code="checkout")
    project.members.add(engineer)
    project_budget, _ = budget_create(fiscal_year=current_fiscal_year(), project=project)
    budget_allocate(budget=project_budget, amount_micros=10 * 10**6, acting_user=None)
    on_project = authorize(
        employee=engineer,
        estimated_cost_micros=10**6,
        project=project,
        reserve=True,
        source="gw",
        request_id="call-2",
    )
    assert on_project.budget.pk == project_budget.pk
    with pytest.raises(AllotError, match="another call"):  # the same id, without the project
        authorize(
            employee=engineer,
            estimated_cost_micros=10**6,
            reserve=True,
            source="gw",
            request_id="call-2",
        )
    # the same call is still answered with its hold
    code, body = call("eng@example.com", "5")
    assert code == 200 and body["reservation"]["id"] == str(first.reservation.pk)
    # and once the hold is settled the id is spent: a retry is told so, not "allowed"
    assert (
        usage_ingest(source="gw", events=[good(1, reservation=str(first.reservation.pk))]).accepted
        == 1
    )
    code, body = call("eng@example.com", "5")
    assert code == 409 and "is settled" in body["detail"]
    budget.refresh_from_db()
    empty.refresh_from_db()
    project_budget.refresh_from_db()
    assert (budget.reserved_micros, empty.reserved_micros) == (0, 0)
    assert project_budget.reserved_micros == 10**6  # call-2's hold, once


def test_another_keys_reservation_cannot_be_settled(engineer):
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=engineer)
    budget_allocate(budget=budget, amount_micros=10 * 10**6, acting_user=None)
    held = authorize(employee=engineer, estimated_cost_micros=10**6, reserve=True, source="gw-a")
    result = usage_ingest(source="gw-b", events=[good(1, reservation=str(held.reservation.pk))])
    assert "reservation" in result.rejected[0]["errors"]
