"""What a final approval does for the budget kinds: ledger entries, posted in the decision's
transaction, each with the request as its idempotency key (so it can never be posted twice)."""

from datetime import date

from django.contrib.auth.models import AbstractBaseUser

from approvals.level_changes import level_change_post
from approvals.manual_entries import manual_entry_apply
from approvals.models import ApprovalRequest, RequestKind
from approvals.services import effect_register
from budgets.calculations import prorate_micros
from budgets.ledger.keys import approval_request_key
from budgets.models import Budget, Enforcement, EntryKind
from budgets.services import budget_allocate, budget_create, budget_transfer
from common.money import format_usd
from people.models import Employee
from people.selectors import fiscal_year_period
from people.services import employee_agreed_budget_add


def increase_post(request: ApprovalRequest, user: AbstractBaseUser | None) -> None:
    budget, _ = budget_create(fiscal_year=request.fiscal_year, employee=request.employee)
    budget_allocate(
        budget=budget,
        amount_micros=request.amount_micros,
        acting_user=user,
        kind=EntryKind.APPROVED_INCREASE,
        memo=f"Approved increase, request #{request.pk}: {request.reason}"[:500],
        idempotency_key=approval_request_key(request.pk),
    )


def permanent_increase_post(request: ApprovalRequest, user: AbstractBaseUser | None) -> None:
    """The agreed annual budget goes up by the amount (every later year's allocation starts
    from it), and this year gets its share from the day it applies (and not before the hire
    date), prorated by days; nothing this year when it applies from the next."""
    effective = date.fromisoformat(request.details["effective_from"])
    before, after = employee_agreed_budget_add(
        employee=request.employee,
        amount_micros=request.amount_micros,
        acting_user=user,
        reason=f"Permanent increase, request #{request.pk}",
    )
    details = {**request.details, "annual_before_micros": before, "annual_after_micros": after}
    ApprovalRequest.objects.filter(pk=request.pk).update(details=details)
    request.details = details
    start = max(effective, request.employee.hire_date)
    share = prorate_micros(
        request.amount_micros, start=start, period=fiscal_year_period(request.fiscal_year)
    )
    if share <= 0:
        return
    budget, _ = budget_create(fiscal_year=request.fiscal_year, employee=request.employee)
    budget_allocate(
        budget=budget,
        amount_micros=share,
        acting_user=user,
        kind=EntryKind.APPROVED_INCREASE,
        memo=(
            f"Permanent increase, request #{request.pk}: {format_usd(before)} → "
            f"{format_usd(after)} a year from {effective:%Y-%m-%d}, FY{request.fiscal_year} "
            f"share: {request.reason}"
        )[:500],
        idempotency_key=approval_request_key(request.pk),
    )


def project_allocation_post(request: ApprovalRequest, user: AbstractBaseUser | None) -> None:
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


def team_topup_post(request: ApprovalRequest, user: AbstractBaseUser | None) -> None:
    budget, _ = budget_create(fiscal_year=request.fiscal_year, team=request.team)
    budget_allocate(
        budget=budget,
        amount_micros=request.amount_micros,
        acting_user=user,
        kind=EntryKind.APPROVED_INCREASE,
        memo=f"Team pool top-up, request #{request.pk}: {request.reason}"[:500],
        idempotency_key=approval_request_key(request.pk),
    )


def transfer_post(request: ApprovalRequest, user: AbstractBaseUser | None) -> None:
    """One pair of entries (out of the source, into the destination), never below what the
    source has committed; a source spent meanwhile refuses the approval with its message."""
    details = request.details
    budget_transfer(
        source=Budget.objects.get(pk=details["source"]),
        destination=Budget.objects.get(pk=details["destination"]),
        amount_micros=request.amount_micros,
        acting_user=user,
        memo=(
            f"Transfer, request #{request.pk}: {details['source_label']} → "
            f"{details['destination_label']}: {request.reason}"
        )[:500],
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
    effect_register(RequestKind.PERMANENT_INCREASE, permanent_increase_post)
    effect_register(RequestKind.PROJECT_ALLOCATION, project_allocation_post)
    effect_register(RequestKind.TEAM_TOPUP, team_topup_post)
    effect_register(RequestKind.LEDGER_ENTRY, ledger_entry_post)
    effect_register(RequestKind.TRANSFER, transfer_post)
    effect_register(RequestKind.LEVEL_CHANGE, level_change_post)
