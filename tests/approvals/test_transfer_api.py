"""Issue 21 (5): transfers in the API for integrations, with the schema."""

import json

import pytest
from django.test import Client

from approvals.models import ApprovalRequest, RequestKind, RequestState
from approvals.services import request_decide
from budgets.models import EntryKind, LedgerEntry
from tests.approvals.test_transfers import allocated, org  # noqa: F401 (the fixture)
from tests.factories import api_key

K = 10**6


def post(key, body):
    return Client().post(
        "/api/v1/transfers/",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )


def body(people, **change):
    return {
        "requested_by": "eng@example.com",
        "source": people["engineer_budget"].pk,
        "destination": people["project_budget"].pk,
        "amount_usd": "250.50",
        "reason": "the migration's agents",
        "request_id": "OPS-1",
        **change,
    }


def test_an_integration_asks_and_the_chain_decides_as_on_the_page(org):  # noqa: F811
    key = api_key("request_transfers")
    answer = post(key, body(org))
    assert answer.status_code == 201, answer.content
    data = answer.json()
    request = ApprovalRequest.objects.get(pk=data["id"])
    assert request.kind == RequestKind.TRANSFER and request.requester == org["engineer"].user
    assert data["state"] == "in_review" and data["amount_usd"] == "250.500000"
    assert [(s["role"], s["approver"]) for s in data["steps"]] == [
        ("manager", "manager@example.com"),
        ("owner", "lead@example.com"),
        ("manager", "cto@example.com"),
    ]
    # the same request id again is the same request
    again = post(key, body(org))
    assert again.status_code == 200 and again.json()["id"] == request.pk
    assert ApprovalRequest.objects.count() == 1
    for user in ("manager", "lead", "cto"):
        request_decide(request=request, user=org[user].user, approve=True)
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    assert allocated(org, "project") == 1_000 * K + 250_500_000
    assert LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_IN).count() == 1


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"amount_usd": 3.5}, 400, "amount_usd"),
        ({"amount_usd": "5000"}, 400, "amount"),
        ({"source": "x"}, 400, "source"),
        ({"destination": None}, 400, "destination"),
        ({"requested_by": "nobody@example.com"}, 404, "requested_by"),
        ({"reason": ""}, 400, "reason"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(org, change, status, field):  # noqa: F811
    answer = post(api_key("request_transfers"), body(org, **change))
    assert answer.status_code == status, answer.content
    data = answer.json()
    assert data.get("field") == field or field in data
    assert not ApprovalRequest.objects.exists()


def test_a_key_without_the_scope_is_refused(org):  # noqa: F811
    answer = post(api_key("ingest", "authorize"), body(org))
    assert answer.status_code == 403
    assert "request_transfers" in answer.json()["detail"]
    assert Client().post("/api/v1/transfers/", {}).status_code == 401


def test_the_schema_documents_the_transfer_endpoint(db):
    schema = Client().get("/api/v1/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/transfers/"]["post"]
    assert operation["operationId"] == "transfer_request"
    fields = schema["components"]["schemas"]["TransferIn"]["properties"]
    assert {"requested_by", "source", "destination", "amount_usd", "reason"} <= set(fields)
