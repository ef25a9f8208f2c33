"""The gateway API: thin views that validate, call a service and shape the answer."""

import json
from types import SimpleNamespace

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from budgets import serializers as s
from budgets.api_auth import ApiKeyAuthentication, PerKeyThrottle, api_key_with_scope
from budgets.authorize import authorize, estimate_cost
from budgets.authorize_read import employee_and_candidates
from budgets.display import money_display_for
from budgets.models import ApiScope, Budget, IntegrationKey
from budgets.reservations import reservation_release
from budgets.selectors import employee_balance
from budgets.usage.ingest import usage_ingest
from common.api import allot_exception_handler
from common.errors import AllotError
from common.money import MoneyError, dollars_to_micros, micros_to_dollars
from people.models import Employee, Project
from people.selectors import (
    company_settings,
    company_today,
    employee_by_key,
    fiscal_year_of,
    user_can_see_employee,
)

USAGE_EXAMPLE = {
    "events": [
        {
            "id": "gw-2026-05-04-000123",
            "employee": "engineer@example.com",
            "model": "claude-sonnet-4",
            "input_tokens": 12000,
            "output_tokens": 3000,
            "cached_input_tokens": 8000,
            "cache_write_tokens": 2000,
            "occurred_at": "2026-05-04T15:30:00Z",
            "category": "code_review",
            "project": "checkout-v2",
            "metadata": {"repo": "shop/checkout", "agent": "reviewer"},
        },
        {
            "id": "gw-2026-05-04-000124",
            "employee": "EMP00042",
            "model": "in-house-model",
            "input_tokens": 500,
            "output_tokens": 200,
            "cost_usd": "0.0042",
            "occurred_at": "2026-05-04T15:31:10+02:00",
        },
    ]
}


# Every endpoint can answer these; the body names what was wrong (by field where there is one).
ERROR_RESPONSES = {
    400: OpenApiResponse(description="Bad input: what was wrong, by field"),
    401: OpenApiResponse(description="Missing, wrong or revoked key"),
    403: OpenApiResponse(description="The key or the signed-in person may not do this"),
    413: OpenApiResponse(
        description="The request body is over the size limit (the answer says it)"
    ),
    429: OpenApiResponse(description="Too many requests for this key; wait for Retry-After"),
}


class IntegrationApi(APIView):
    authentication_classes = [ApiKeyAuthentication]
    throttle_classes = [PerKeyThrottle]


def _budget_ref(budget: Budget | None) -> dict | None:
    if budget is None:
        return None
    return {
        "id": budget.pk,
        "kind": budget.owner_kind,
        "owner": str(budget.owner),
        "fiscal_year": budget.fiscal_year,
    }


def _employee_or_404(key: str) -> Employee:
    employee = employee_by_key(key)
    if employee is None:
        raise AllotError(
            f"No employee with email or external id {key!r}.", field="employee", code="not_found"
        )
    return employee


class UsageApi(IntegrationApi):
    permission_classes = [api_key_with_scope(ApiScope.INGEST)]

    @extend_schema(
        operation_id="usage_ingest",
        summary="Push a batch of usage events (at most 5,000)",
        description=(
            "Each event is validated on its own: bad ones are listed in `rejected` with field "
            "errors and never block the good ones. The same id with the same contents is a "
            "duplicate and changes nothing; the same id with other contents is rejected. "
            "Costs come from `cost_usd`, else from the price in force for the model at "
            "`occurred_at`. Drawdown: the project's allocation (for members), the personal "
            "budget, then the team pool where the team allows overflow."
        ),
        request=s.UsageBatchIn,
        responses={
            200: s.UsageBatchOut,
            **ERROR_RESPONSES,
            400: OpenApiResponse(description="Malformed JSON or events not a list"),
            413: OpenApiResponse(
                description="More than 5,000 events, or a body over the size limit"
            ),
        },
        examples=[
            OpenApiExample("Two events", value=USAGE_EXAMPLE, request_only=True),
            OpenApiExample(
                "Answer",
                value={
                    "accepted": 1,
                    "duplicates": 0,
                    "rejected": [
                        {
                            "index": 1,
                            "id": "gw-2026-05-04-000124",
                            "errors": {"employee": ["No employee with email or external id 'x'."]},
                        }
                    ],
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        if not isinstance(request.data, dict) or "events" not in request.data:
            raise AllotError('Send a JSON object {"events": [...]}.', field="events")
        key: IntegrationKey = request.auth
        result = usage_ingest(events=request.data["events"], source=key.source)
        return Response(
            {
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": result.rejected,
            }
        )


AUTHORIZE_IN = s.AuthorizeIn()


class AuthorizeApi(IntegrationApi):
    permission_classes = [api_key_with_scope(ApiScope.AUTHORIZE)]

    @extend_schema(
        operation_id="authorize",
        summary="May this employee spend this much now?",
        description=(
            "Answers against hard limits (with any overdraft) and warns for soft ones. With "
            '`"reserve": true` the estimate is held against the budget (it counts as spent for '
            "other calls) and a reservation id is returned; send it as `reservation` on the "
            "usage event to settle it. Unsettled holds expire."
        ),
        request=s.AuthorizeIn,
        responses={
            200: s.AuthorizeOut,
            **ERROR_RESPONSES,
            404: OpenApiResponse(description="Unknown employee"),
            409: OpenApiResponse(
                description="The request id was already used for another call, or its hold "
                "is settled or expired: send a new one"
            ),
        },
        examples=[
            OpenApiExample(
                "By cost, with a hold",
                value={
                    "employee": "engineer@example.com",
                    "estimated_cost_usd": "1.25",
                    "reserve": True,
                },
                request_only=True,
            ),
            OpenApiExample(
                "By model and tokens",
                value={
                    "employee": "engineer@example.com",
                    "model": "claude-sonnet-4",
                    "input_tokens": 200000,
                    "output_tokens": 20000,
                    "project": "checkout-v2",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Allowed, with a hold",
                value={
                    "allowed": True,
                    "budget": {
                        "id": 41,
                        "kind": "employee",
                        "owner": "Ana Lima",
                        "fiscal_year": 2026,
                    },
                    "remaining_usd": "41234.500000",
                    "reason": "Within budget.",
                    "warnings": ["Ana Lima will be at 81% of its budget (alert at 80%)."],
                    "reservation": {
                        "id": "0f8e6a0c-3d5b-4c1e-9a57-2b9f1f0f4c11",
                        "amount_usd": "1.250000",
                        "expires_at": "2026-05-04T15:45:00Z",
                    },
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        values = AUTHORIZE_IN.run_validation(request.data)
        return Response(authorize_answer(values, request.auth.source), status=status.HTTP_200_OK)


def authorize_hot_path(request: HttpRequest) -> HttpResponse | None:
    """The gateway's hot path (settings.ALLOT_HOT_PATHS, common.hot_path): a well-formed call
    with a valid key answered before the browsers' middleware and without DRF's per-request
    machinery (its request wrapper, content negotiation, parser and renderer were half of an
    authorize call's own work).

    It goes through the same key check, scope, rate limit, validation, service and error
    handler (`allot_exception_handler`) as `AuthorizeApi.post`. Anything DRF itself answers (no
    key or a bad one, another method, bad JSON or a field error, the rate limit) goes down the
    usual stack to DRF's path before anything is counted or written.
    tests/budgets/test_api_authorize_fast.py compares the two paths."""
    if request.method != "POST" or request.content_type != "application/json":
        return None
    return _authorize_fast(request, AuthorizeApi())


def _json(body: dict, status_code: int = 200, headers: dict | None = None) -> HttpResponse:
    """A body as DRF's JSONRenderer writes it (with one renderer, DRF sets no Vary)."""
    text = json.dumps(body, cls=JSONEncoder, ensure_ascii=False, separators=(",", ":"))
    return HttpResponse(
        text,
        status=status_code,
        content_type="application/json",
        headers=headers,
    )


def _authorize_fast(request: HttpRequest, view: AuthorizeApi) -> HttpResponse | None:
    """The answer to an authorize call, or None when DRF's path must answer it."""
    try:
        found = ApiKeyAuthentication().authenticate(request)
        if found is None or not found[1].has_scope(ApiScope.AUTHORIZE):
            return None
        data = json.loads(request.body.decode(), parse_constant=_refuse_constant)
        values = s.authorize_in_plain(data) or AUTHORIZE_IN.run_validation(data)
        caller = SimpleNamespace(user=found[0], auth=found[1], META=request.META)
        if not all(throttle.allow_request(caller, view) for throttle in view.get_throttles()):
            return None
    except (APIException, RequestDataTooBig, ValueError, RecursionError):
        return None  # DRF's path answers: 401, 403, 400 by field, 413 or 429
    try:
        return _json(authorize_answer(values, found[1].source))
    except (AllotError, MoneyError, DatabaseError) as exc:
        # A refusal by rule (nothing was written) or a database fault (a busy budget past the
        # authorize bounds, a lost connection: nothing was held), answered by the API's one
        # handler; answered here, not again by DRF's path, so the rate limit counts it once.
        answer = allot_exception_handler(exc, {})
        if answer is None:
            raise
        retry = {k: v for k, v in answer.items() if k.lower() == "retry-after"}
        return _json(answer.data, answer.status_code, retry)


def _refuse_constant(name: str):
    """NaN and Infinity are not JSON: DRF's parser refuses them too."""
    raise ValueError(f"{name} is not valid JSON")


def authorize_answer(values: dict, source: str) -> dict:
    """The authorize service for validated input, and its answer's body."""
    project = None
    if values.get("project"):
        project = Project.objects.filter(code=values["project"]).first()
    # The employee and their candidate budgets in one statement (the fast path's one read).
    now = timezone.now()
    settings_row = company_settings()
    fiscal_year = fiscal_year_of(timezone.localtime(now).date(), settings_row=settings_row)
    reading = employee_and_candidates(values["employee"], fiscal_year=fiscal_year, project=project)
    if reading is None:
        raise AllotError(
            f"No employee with email or external id {values['employee']!r}.",
            field="employee",
            code="not_found",
        )
    if values.get("project") and project is None:
        raise AllotError(f"No project with code {values['project']!r}.", field="project")
    if "estimated_cost_usd" in values:
        estimate = dollars_to_micros(values["estimated_cost_usd"])
    else:
        estimate = estimate_cost(
            model_name=values["model"],
            input_tokens=values.get("input_tokens") or 0,
            output_tokens=values.get("output_tokens") or 0,
            cached_input_tokens=values.get("cached_input_tokens") or 0,
            cache_write_tokens=values.get("cache_write_tokens") or 0,
            cache_write_1h_tokens=values.get("cache_write_1h_tokens") or 0,
        )
    result = authorize(
        employee=reading.employee,
        estimated_cost_micros=estimate,
        project=project,
        reserve=values["reserve"],
        source=source,
        request_id=values.get("request_id", ""),
        now=now,
        reading=reading,
        settings_row=settings_row,
    )
    reservation = result.reservation
    return {
        "allowed": result.allowed,
        "budget": _budget_ref(result.budget),
        "remaining_usd": str(micros_to_dollars(result.remaining_micros)),
        "reason": result.reason,
        "warnings": result.warnings,
        "reservation": reservation
        and {
            "id": reservation.pk,
            "amount_usd": str(micros_to_dollars(reservation.amount_micros)),
            "expires_at": reservation.expires_at,
        },
    }


class ReservationReleaseApi(IntegrationApi):
    permission_classes = [api_key_with_scope(ApiScope.AUTHORIZE)]

    @extend_schema(
        operation_id="reservation_release",
        summary="Give back a hold whose call failed",
        description=(
            "For a call that authorize reserved for and that will not produce usage (the model "
            "call failed). The held amount returns to the budget at once instead of at expiry. "
            "Idempotent: releasing again, or releasing a hold that already expired, answers "
            "with its final state and moves nothing. A hold that a usage event settled cannot "
            "be released (409)."
        ),
        request=None,
        responses={
            200: s.ReservationReleaseOut,
            **ERROR_RESPONSES,
            404: OpenApiResponse(description="No such reservation for this API key"),
            409: OpenApiResponse(description="The reservation is already settled by usage"),
        },
        examples=[
            OpenApiExample(
                "Released",
                value={
                    "id": "0f8e6a0c-3d5b-4c1e-9a57-2b9f1f0f4c11",
                    "state": "released",
                    "amount_usd": "1.250000",
                    "budget": {
                        "id": 41,
                        "kind": "employee",
                        "owner": "Ana Lima",
                        "fiscal_year": 2026,
                    },
                    "closed_at": "2026-05-04T15:31:02Z",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request, reservation_id: str):
        reservation = reservation_release(reservation_id=reservation_id, source=request.auth.source)
        return Response(
            {
                "id": reservation.pk,
                "state": reservation.state,
                "amount_usd": str(micros_to_dollars(reservation.amount_micros)),
                "budget": _budget_ref(reservation.budget),
                "closed_at": reservation.closed_at,
            }
        )


class CanReadBalance(permissions.BasePermission):
    """An API key with the read_balances scope, or a signed-in person allowed to see them."""

    message = "This API key does not have the 'read_balances' scope."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, IntegrationKey):
            return request.auth.has_scope(ApiScope.READ_BALANCES)
        return bool(request.user and request.user.is_authenticated)


class BalanceApi(APIView):
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [CanReadBalance]
    throttle_classes = [PerKeyThrottle]

    @extend_schema(
        operation_id="employee_balance",
        summary="An employee's balance in every budget that can serve them",
        description=(
            "Read from stored totals and a daily rollup, so it costs the same at a million "
            "events as at a thousand. Burn rate is the average daily spend of the last 30 days. "
            "For a signed-in engineer or manager the company's transparency applies: amounts "
            "they may not see are null."
        ),
        responses={
            200: s.BalanceOut,
            **ERROR_RESPONSES,
            404: OpenApiResponse(description="No such employee, or not one you may see"),
        },
        examples=[
            OpenApiExample(
                "A personal budget",
                value={
                    "employee": "ana@example.com",
                    "fiscal_year": 2026,
                    "reference_rate_usd_per_token": "0.000004",  # nosec B105 - a price, not a secret
                    "budgets": [
                        {
                            "id": 41,
                            "kind": "employee",
                            "owner": "Ana Lima",
                            "fiscal_year": 2026,
                            "enforcement": "hard",
                            "allocated_usd": "150000.000000",
                            "spent_usd": "108765.500000",
                            "reserved_usd": "1.250000",
                            "remaining_usd": "41233.250000",
                            "utilisation_percent": "72.51",
                            "burn_rate_usd_per_day": "412.330000",
                            "projected_exhaustion_date": "2026-09-12",
                            "tokens_left": 10308312500,
                        }
                    ],
                },
                response_only=True,
            ),
        ],
    )
    def get(self, request, email: str):
        employee = employee_by_key(email)
        by_key = isinstance(request.auth, IntegrationKey)
        if employee is None or not (by_key or user_can_see_employee(request.user, employee)):
            # The same 404 for "no such person" and "not yours": no probing who exists.
            raise Http404("No such employee among the people you can see.")
        display = None if by_key else money_display_for(request.user, employee)

        def usd(micros: int) -> str | None:
            if display is not None and not display.shows_dollars:
                return None  # transparency hides amounts from this viewer
            return str(micros_to_dollars(micros))

        def usd_rate(rate) -> str | None:
            return (
                None if display is not None and not display.shows_dollars else str(rate.normalize())
            )

        settings_row = company_settings()
        rate = settings_row.reference_rate_usd_per_token
        fiscal_year = fiscal_year_of(company_today(), settings_row=settings_row)
        return Response(
            {
                "employee": employee.user.email,
                "fiscal_year": fiscal_year,
                # Hidden with the dollars: tokens times the rate would give them back.
                "reference_rate_usd_per_token": usd_rate(rate),
                "budgets": [
                    {
                        **_budget_ref(row.budget),
                        "enforcement": row.budget.enforcement,
                        "allocated_usd": usd(row.allocated_micros),
                        "spent_usd": usd(row.spent_micros),
                        "reserved_usd": usd(row.reserved_micros),
                        "remaining_usd": usd(row.remaining_micros),
                        "utilisation_percent": (
                            None
                            if row.utilisation_percent is None
                            else str(row.utilisation_percent)
                        ),
                        "burn_rate_usd_per_day": usd(row.burn_rate_micros_per_day),
                        "projected_exhaustion_date": row.projected_exhaustion_date,
                        "tokens_left": (
                            None if display and not display.shows_tokens else row.tokens_left
                        ),
                    }
                    for row in employee_balance(
                        employee=employee, fiscal_year=fiscal_year, usd_per_token=rate
                    )
                ],
            }
        )
