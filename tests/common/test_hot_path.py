"""Authorize answered before the browsers' middleware (common.hot_path) carries the headers the
usual stack gives an answer, and leaves to that stack what the skipped middleware would refuse."""

import json

import pytest
from django.test import Client

import budgets.apis as apis
from tests.budgets.test_api_authorize import URL, call, hard_budget
from tests.factories import EmployeeFactory, api_key

HEADERS = [
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Content-Type",
    "Vary",
]


@pytest.fixture
def answered(monkeypatch):
    """Which answers the hot path gave (True) or left to the usual stack (False)."""
    hot = apis._authorize_fast
    seen = []

    def counting(request, view):
        answer = hot(request, view)
        seen.append(answer is not None)
        return answer

    monkeypatch.setattr(apis, "_authorize_fast", counting)
    return seen


@pytest.fixture
def budget_and_key(db):
    employee = EmployeeFactory(user__email="eng@example.com")
    hard_budget(employee, 100)
    return api_key()


def headers_of(response) -> dict:
    return {name: response.get(name) for name in HEADERS}


def test_a_hot_answer_has_the_usual_stacks_headers(client, budget_and_key, answered, monkeypatch):
    hot = call(client, budget_and_key, employee="eng@example.com", estimated_cost_usd="1")
    monkeypatch.setattr(apis, "authorize_hot_path", lambda request: None)
    # a new client's handler reads the route table again, with the patched function
    usual = call(Client(), budget_and_key, employee="eng@example.com", estimated_cost_usd="1")

    assert answered == [True]
    assert hot.status_code == usual.status_code == 200
    assert hot.json() == usual.json()
    assert headers_of(hot) == headers_of(usual)
    assert hot["X-Frame-Options"] == "DENY" and "frame-ancestors" in hot["Content-Security-Policy"]


def test_an_unknown_host_is_refused_before_the_hot_path(client, budget_and_key, answered):
    response = client.post(
        URL,
        json.dumps({"employee": "eng@example.com", "estimated_cost_usd": "1"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {budget_and_key}",
        HTTP_HOST="evil.example.com",
    )

    assert response.status_code == 400
    assert answered == []


def test_plain_http_is_redirected_as_any_page_is(client, budget_and_key, answered, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = call(client, budget_and_key, employee="eng@example.com", estimated_cost_usd="1")

    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    assert answered == []


def test_what_the_hot_path_leaves_goes_down_the_usual_stack(client, budget_and_key, answered):
    no_key = client.post(URL, "{}", content_type="application/json")
    form = client.post(URL, {"employee": "eng@example.com"}, HTTP_AUTHORIZATION="Api-Key x")
    bad = call(client, budget_and_key, employee="eng@example.com", estimated_cost_usd="-1")

    assert no_key.status_code == 401 and "credentials" in no_key.json()["detail"]
    assert form.status_code == 401  # not JSON: not the hot path's; the key is checked first
    assert bad.status_code == 400 and "estimated_cost_usd" in bad.json()
    assert answered == [False, False]  # form data never reached it
    assert "Content-Security-Policy" in bad and bad["X-Frame-Options"] == "DENY"
