"""The API of requests for integrations: a transfer between budgets, asked for on a named
person's behalf and decided by the same chain as one asked for on the requests page."""

from django.db import transaction
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from approvals.models import ApprovalRequest, RequestKind
from approvals.services import request_submit
from budgets.api_auth import api_key_with_scope
from budgets.apis import ERROR_RESPONSES, IntegrationApi
from budgets.models import ApiScope, IntegrationKey
from common.api import DollarsField, TextField
from common.errors import AllotError
from common.money import dollars_to_micros, micros_to_dollars
from people.selectors import employee_by_key


class TransferIn(serializers.Serializer):
    requested_by = TextField(
        max_length=254, help_text="Who asks: an active employee's email or HR system id."
    )
    source = serializers.IntegerField(min_value=1, help_text="The budget money leaves (its id).")
    destination = serializers.IntegerField(min_value=1, help_text="The budget it goes to.")
    amount_usd = DollarsField(max_digits=18, decimal_places=6, min_value=0)
    reason = TextField(max_length=2000)
    request_id = TextField(
        max_length=100,
        required=False,
        help_text="Your id for this ask: sending it again returns the first request.",
    )


class StepOut(serializers.Serializer):
    role = serializers.CharField()
    approver = serializers.EmailField(allow_null=True, help_text="Empty: the group decides.")
    state = serializers.CharField()


class TransferOut(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    amount_usd = serializers.CharField()
    source = serializers.IntegerField()
    destination = serializers.IntegerField()
    steps = StepOut(many=True)


def _answer(request: ApprovalRequest) -> dict:
    return {
        "id": request.pk,
        "state": request.state,
        "amount_usd": str(micros_to_dollars(request.amount_micros)),
        "source": request.details["source"],
        "destination": request.details["destination"],
        "steps": [
            {"role": s.role, "approver": s.approver and s.approver.email, "state": s.state}
            for s in request.steps.select_related("approver").order_by("index")
        ],
    }


class TransferApi(IntegrationApi):
    permission_classes = [api_key_with_scope(ApiScope.REQUEST_TRANSFERS)]

    @extend_schema(
        operation_id="transfer_request",
        summary="Ask to move money between two budgets of this year",
        description=(
            "Opens a transfer request for `requested_by`: their manager, both budgets' owners "
            "and each side's approvers decide it, as on the requests page; the money moves as "
            "one pair of entries on the final approval. The same `request_id` from the same "
            "key returns the first request. Needs the `request_transfers` scope."
        ),
        request=TransferIn,
        responses={
            201: TransferOut,
            200: OpenApiResponse(TransferOut, description="The request_id was already sent"),
            **ERROR_RESPONSES,
            404: OpenApiResponse(description="Unknown requested_by"),
        },
        examples=[
            OpenApiExample(
                "Person to project",
                value={
                    "requested_by": "engineer@example.com",
                    "source": 41,
                    "destination": 97,
                    "amount_usd": "250.00",
                    "reason": "the migration's agents run on the project",
                    "request_id": "jira-OPS-1234",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        given = TransferIn(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        key: IntegrationKey = request.auth
        requester = employee_by_key(data["requested_by"])
        if requester is None or not requester.is_active:
            raise AllotError(
                f"No active employee with email or external id {data['requested_by']!r}.",
                field="requested_by",
                code="not_found",
            )
        with transaction.atomic():
            external = data.get("request_id")
            if external:
                earlier = ApprovalRequest.objects.filter(
                    kind=RequestKind.TRANSFER,
                    details__api_key=key.pk,
                    details__request_id=external,
                ).first()
                if earlier is not None:
                    return Response(_answer(earlier), status=status.HTTP_200_OK)
            created = request_submit(
                kind=RequestKind.TRANSFER,
                requester=requester.user,
                amount_micros=dollars_to_micros(data["amount_usd"]),
                reason=data["reason"],
                details={
                    "source": data["source"],
                    "destination": data["destination"],
                    "api_key": key.pk,
                    **({"request_id": external} if external else {}),
                },
            )
        return Response(_answer(created), status=status.HTTP_201_CREATED)
