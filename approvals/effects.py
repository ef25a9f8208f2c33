"""What a final approval does for the budget kinds: ledger entries, posted in the decision's
transaction, each with the request as its idempotency key (so it can never be posted twice)."""

from django.contrib.auth.models import AbstractBaseUser

from approvals.manual_entries import manual_entry_apply
from approvals.models import ApprovalRequest, RequestKind
from approvals.services import effect_register
from budgets.ledger.keys import approval_request_key
from budgets.models import Budget, Enforcement, EntryKind
from budgets.services import budget_allocate, budget_create
from people.models import Employee


def increase_post(request: ApprovalRequest, user: AbstractBaseUser) -> None:
    budget, _ = budget_create(fiscal_year=request.fiscal_year, employee=request.employee)
    budget_allocate(
        budget=budget,
        amount_micros=request.amount_micros,
        acting_user=user,
        kind=EntryKind.APPROVED_INCREASE,
        memo=f"Approved increase, request #{request.pk}: {request.reason}"[:500],
        idempotency_key=approval_request_key(request.pk),
    )


def project_allocation_post(request: ApprovalRequest, user: AbstractBaseUser) -> None:
    budget, _ = budget_create(
        fiscal_year=request.fiscal_year, project=request.project, enforcement=Enforcement.HARD
    )
    budget_allocate(
        budget=budget,
        amount_micros=request.amount_micros,
        acting_user=user,
        memo=f"Project allocation, request #{request.pk}: {request.reason}"[:500],
        idempotency_key=approval_request_key(request.pk),
    )
    member_ids = request.details.get("members") or []
    if member_ids:
        request.project.members.add(*Employee.objects.filter(pk__in=member_ids))


def team_topup_post(request: ApprovalRequest, user: AbstractBaseUser) -> None:
    budget, _ = budget_create(fiscal_year=request.fiscal_year, team=request.team)
    budget_allocate(
        budget=budget,
        amount_micros=request.amount_micros,
        acting_user=user,
        kind=EntryKind.APPROVED_INCREASE,
        memo=f"Team pool top-up, request #{request.pk}: {request.reason}"[:500],
        idempotency_key=approval_request_key(request.pk),
    )


def ledger_entry_post(request: ApprovalRequest, user: AbstractBaseUser) -> None:
    """The entry its author asked for, posted by the approver's decision."""
    details = request.details
    manual_entry_apply(
        budget=Budget.objects.get(pk=details["budget"]),
        kind=details["entry_kind"],
        amount_micros=details["amount_micros"],
        memo=f"{request.reason} (asked by {request.requester}, request #{request.pk})"[:500],
        acting_user=user,
        idempotency_key=approval_request_key(request.pk),
    )


def register() -> None:
    effect_register(RequestKind.INCREASE, increase_post)
    effect_register(RequestKind.PROJECT_ALLOCATION, project_allocation_post)
    effect_register(RequestKind.TEAM_TOPUP, team_topup_post)
    effect_register(RequestKind.LEDGER_ENTRY, ledger_entry_post)
