"""Authorize's hot path (AuthorizeApi.dispatch) answers exactly as DRF's path does, and leaves
every error to DRF's path: the two are compared call by call, each path forced in turn."""

import json

import pytest
from rest_framework.throttling import SimpleRateThrottle

import budgets.apis as apis
from budgets.models import Enforcement, Reservation
from tests.budgets.test_api_authorize import URL, hard_budget
from tests.factories import EmployeeFactory, ProjectFactory, api_key, price


@pytest.fixture
def paths(monkeypatch):
    """Call the endpoint on the hot path, or with the hot path turned off (DRF's path)."""
    hot = apis._authorize_fast
    seen = []

    def counting(request, view):
        answer = hot(request, view)
        seen.append(answer is not None)
        return answer

    def post(client, key, body, *, fast: bool):
        monkeypatch.setattr(apis, "_authorize_fast", counting if fast else lambda r, v: None)
        seen.clear()
        headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"} if key else {}
        raw = body if isinstance(body, str) else json.dumps(body)
        response = client.post(URL, raw, content_type="application/json", **headers)
        return response, (seen[-1] if seen else False)

    return post


def comparable(answer: dict) -> dict:
    if answer.get("reservation"):  # a new hold each time: its id and expiry differ
        answer["reservation"] = {"amount_usd": answer["reservation"]["amount_usd"]}
    return answer


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"employee": "eng@example.com", "estimated_cost_usd": "1.25"},
        {"employee": "ENG@example.com", "estimated_cost_usd": "1.25", "reserve": True},
        {"employee": "eng@example.com", "estimated_cost_usd": "70", "reserve": True},
        {"employee": "eng@example.com", "model": "m", "input_tokens": 1000, "output_tokens": 10},
        {"employee": "eng@example.com", "estimated_cost_usd": "1", "project": "checkout"},
        {"employee": "EMP-7", "estimated_cost_usd": "5", "reserve": True, "request_id": "r-1"},
    ],
)
def test_the_hot_path_answers_what_drfs_path_answers(client, paths, body):
    employee = EmployeeFactory(user__email="eng@example.com", external_id="EMP-7")
    hard_budget(employee, 100)
    project = ProjectFactory(code="checkout")
    project.members.add(employee)
    price("m")
    key = api_key()

    drf, drf_fast = paths(client, key, body, fast=False)
    Reservation.objects.all().delete()  # the same room for the second call
    employee.budgets.update(reserved_micros=0)
    hot, hot_fast = paths(client, key, body, fast=True)

    assert (drf_fast, hot_fast) == (False, True)
    assert hot.status_code == drf.status_code == 200
    assert hot["Content-Type"] == drf["Content-Type"] == "application/json"
    assert comparable(hot.json()) == comparable(drf.json())
    assert Reservation.objects.count() == (1 if body.get("reserve") else 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ("{not json", 400, None),
        ('{"employee": "eng@example.com", "estimated_cost_usd": NaN}', 400, None),
        ({"employee": "eng@example.com"}, 400, "non_field_errors"),
        ({"employee": "eng@example.com", "estimated_cost_usd": 1.5}, 400, "estimated_cost_usd"),
        ({"employee": "nobody@example.com", "estimated_cost_usd": "1"}, 404, "employee"),
        (
            {"employee": "eng@example.com", "estimated_cost_usd": "1", "project": "x"},
            400,
            "project",
        ),
        ({"employee": "eng@example.com", "model": "unknown", "input_tokens": 5}, 400, "model"),
        ({"employee": "eng@example.com", "estimated_cost_usd": "0", "reserve": True}, 400, None),
        (["a list"], 400, "non_field_errors"),
    ],
)
def test_every_error_is_drfs_answer(client, paths, body, status, field):
    employee = EmployeeFactory(user__email="eng@example.com")
    hard_budget(employee, 100)
    key = api_key()

    drf, _ = paths(client, key, body, fast=False)
    hot, hot_fast = paths(client, key, body, fast=True)

    # bad input goes to DRF's path; a refusal by rule (404, unknown project or model, nothing
    # to reserve) is answered on the hot path by the same handler
    assert hot_fast is (status == 404 or field in ("project", "model") or "reserve" in body)
    assert hot.status_code == drf.status_code == status
    assert hot.json() == drf.json()
    if field:
        assert field in json.dumps(hot.json())
    assert not Reservation.objects.exists()


@pytest.mark.django_db
def test_keys_and_scopes_are_checked_on_the_hot_path(client, paths):
    employee = EmployeeFactory(user__email="eng@example.com")
    hard_budget(employee, 100, Enforcement.HARD)
    body = {"employee": "eng@example.com", "estimated_cost_usd": "1", "reserve": True}

    missing, _ = paths(client, None, body, fast=True)
    wrong, _ = paths(client, "nope.nope", body, fast=True)
    ingest_only, _ = paths(client, api_key("ingest"), body, fast=True)

    assert missing.status_code == 401 and wrong.status_code == 401
    assert ingest_only.status_code == 403 and "authorize" in ingest_only.json()["detail"]
    assert not Reservation.objects.exists()


@pytest.mark.django_db
def test_the_rate_limit_holds_on_the_hot_path(client, paths, monkeypatch):
    employee = EmployeeFactory(user__email="eng@example.com")
    hard_budget(employee, 100)
    key = api_key()
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"api": "3/min"})
    body = {"employee": "eng@example.com", "estimated_cost_usd": "1", "reserve": True}

    answers = [paths(client, key, body, fast=True) for _ in range(5)]

    assert [r.status_code for r, _ in answers] == [200, 200, 200, 429, 429]
    assert [fast for _, fast in answers] == [True, True, True, False, False]
    assert answers[-1][0].has_header("Retry-After")
    assert Reservation.objects.count() == 3


@pytest.mark.django_db
def test_a_refused_call_counts_once_against_the_rate_limit(client, paths, monkeypatch):
    EmployeeFactory(user__email="eng@example.com")
    key = api_key()
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"api": "2/min"})
    unknown = {"employee": "nobody@example.com", "estimated_cost_usd": "1"}

    answers = [paths(client, key, unknown, fast=True)[0].status_code for _ in range(3)]

    assert answers == [404, 404, 429]
