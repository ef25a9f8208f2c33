"""Inputs that once broke a whole batch or answered 500; each must end in a clear error for
that event (or request) and leave the good ones recorded."""

import json
import time

import pytest
from django.utils import timezone

from budgets.authorize import authorize
from budgets.models import Budget, Enforcement, LedgerEntry, Reservation, UsageEvent
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_ingest
from common.errors import AllotError
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, ProjectFactory, UserFactory, api_key

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


def post_usage(client, events, **headers):
    return client.post(
        "/api/v1/usage/",
        json.dumps({"events": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {api_key()}",
        **headers,
    )


def test_a_lone_surrogate_as_an_id_is_refused_by_field_and_the_answer_renders(client, engineer):
    # given a batch of a good event and one whose id is a lone surrogate
    batch = [good(1), good(2, id="\ud800")]

    # when it is posted, and retried
    first = post_usage(client, batch)
    retry = post_usage(client, batch)

    # then both answers render: the good event once, the bad one refused on its id, echoed as null
    assert (first.status_code, retry.status_code) == (200, 200)
    assert (first.json()["accepted"], retry.json()["duplicates"]) == (1, 1)
    for answer in (first.json(), retry.json()):
        (refused,) = answer["rejected"]
        assert (refused["index"], refused["id"]) == (1, None)
        assert "id contains a lone surrogate (U+D800" in refused["errors"]["id"][0]
    assert list(UsageEvent.objects.values_list("event_id", flat=True)) == ["ok-1"]


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "\udfff"])
@pytest.mark.parametrize(
    ("field", "event"),
    [
        ("id", lambda bad: good(2, id=f"ok-{bad}")),
        ("employee", lambda bad: good(2, employee=f"eng@example.com{bad}")),
        ("model", lambda bad: good(2, model=f"m{bad}")),
        ("category", lambda bad: good(2, category=f"testing{bad}")),
        ("project", lambda bad: good(2, project=f"checkout{bad}")),
        ("occurred_at", lambda bad: good(2, occurred_at=f"2026-05-04T15:30:00Z{bad}")),
        ("cost_usd", lambda bad: good(2, cost_usd=f"0.01{bad}")),
        ("reservation", lambda bad: good(2, reservation=bad)),
        ("metadata", lambda bad: good(2, metadata={"repo": {f"k{bad}": 1}})),
        ("metadata", lambda bad: good(2, metadata={"repo": ["ok", f"v{bad}"]})),
    ],
)
def test_nul_and_surrogates_are_refused_in_every_string_field_naming_it(
    client, engineer, field, event, bad
):
    ProjectFactory(code="checkout").members.add(engineer)

    response = post_usage(client, [good(1), event(bad)])

    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted"] == 1
    (refused,) = answer["rejected"]
    assert list(refused["errors"]) == [field]
    message = refused["errors"][field][0]
    assert ("NUL character" if bad == "\x00" else "lone surrogate") in message
    assert message.startswith(field) or "metadata[" in message or "A key of metadata" in message
    assert UsageEvent.objects.count() == LedgerEntry.objects.filter(kind="usage").count() == 1


def test_the_place_in_metadata_is_named():
    result = usage_ingest(events=[good(1, metadata={"tool": [{"args": "a\x00"}]})])

    assert result.rejected[0]["errors"]["metadata"] == [
        'metadata["tool"][0]["args"] contains a NUL character (at character 2); '
        "send text without it."
    ]


@pytest.mark.parametrize("bad", ["\x00", "\ud800"])
@pytest.mark.parametrize("field", ["employee", "model", "project", "request_id"])
def test_authorize_refuses_nul_and_surrogates_naming_the_field(client, engineer, field, bad):
    payload = {"employee": "eng@example.com", "estimated_cost_usd": "1", "reserve": True}
    if field == "model":
        payload = {"employee": "eng@example.com", "input_tokens": 10, "reserve": True}
    payload[field] = f"x{bad}"

    response = client.post(
        "/api/v1/authorize/",
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {api_key()}",
    )

    assert response.status_code == 400
    assert response.json()[field][0].startswith(f"{field} contains a ")
    assert not Reservation.objects.exists()


@pytest.mark.parametrize("key", ["a%00b", "eng@example.com%00", "a%ED%A0%80b"])
def test_a_balance_asked_with_a_nul_or_broken_unicode_is_a_404(client, engineer, key):
    response = client.get(
        f"/api/v1/employees/{key}/balance/",
        HTTP_AUTHORIZATION=f"Api-Key {api_key('read_balances')}",
    )

    assert response.status_code == 404


def test_an_api_key_with_a_nul_is_refused_as_no_key(client, engineer):
    response = client.post(
        "/api/v1/authorize/",
        json.dumps({"employee": "eng@example.com", "estimated_cost_usd": "1"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {api_key().partition('.')[0]}\x00.x",
    )

    assert response.status_code == 401


def test_a_body_that_is_not_utf_8_is_a_400_and_writes_nothing(client, engineer):
    # a lone surrogate sent raw, as a careless client encodes it
    body = json.dumps({"events": [good(1, model="m\ud800")]}, ensure_ascii=False)

    response = client.post(
        "/api/v1/usage/",
        body.encode("utf-8", "surrogatepass"),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {api_key()}",
    )

    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]
    assert not UsageEvent.objects.exists()


@pytest.mark.parametrize("path", ["/api/v1/usage/", "/api/v1/authorize/"])
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", json.dumps({"events": [good(n) for n in range(40)]})),
        ("application/x-www-form-urlencoded", "events=" + "x" * 3_000),
        ("multipart/form-data; boundary=B", "--B\r\n" + "x" * 3_000 + "\r\n--B--\r\n"),
        ("text/plain", "x" * 3_000),
    ],
)
def test_a_body_over_the_limit_of_any_type_is_a_json_413_naming_the_limit(
    client, engineer, settings, path, content_type, body
):
    # given a limit of 2,000 bytes (25 MiB in production)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    key = api_key()

    # when a larger body is posted, with a key and without
    response = client.post(
        path, body, content_type=content_type, HTTP_AUTHORIZATION=f"Api-Key {key}"
    )
    anonymous = client.post(path, body, content_type=content_type)

    # then the key's caller is told the limit in JSON, as for 5,001 events; nobody else is
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "too_large"
    assert "limit of 2,000 bytes" in response.json()["detail"]
    assert anonymous.status_code == 401
    assert not UsageEvent.objects.exists()


def test_the_production_limit_is_named_in_mib(client, engineer, settings):
    body = json.dumps({"events": []}) + " " * (25 * 2**20)

    response = client.post(
        "/api/v1/usage/",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {api_key()}",
    )

    assert response.status_code == 413
    assert "limit of 26,214,400 bytes (25 MiB)" in response.json()["detail"]


@pytest.mark.parametrize("amount", ["1_000", "1e3", "1E3", " 1000", "1,000", "١٠٠٠", "0x10"])
def test_money_that_is_not_a_plain_decimal_string_is_refused_by_usage_and_authorize(
    client, engineer, amount
):
    usage = post_usage(client, [good(1, cost_usd=amount)])
    authorized = client.post(
        "/api/v1/authorize/",
        json.dumps({"employee": "eng@example.com", "estimated_cost_usd": amount}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {api_key()}",
    )

    assert usage.json()["accepted"] == 0
    assert "is not a decimal amount" in usage.json()["rejected"][0]["errors"]["cost_usd"][0]
    assert authorized.status_code == 400
    assert "is not a decimal amount" in authorized.json()["estimated_cost_usd"][0]
    assert not UsageEvent.objects.exists()
