"""Reads: balances, prices in force, the budgets that can serve an employee."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q, QuerySet

from budgets.calculations import tokens_at_rate, utilisation_percent
from budgets.models import Budget, OwnerKind, TokenPrice
from common.money import Micros
from people.models import Employee
from people.selectors import company_settings, current_fiscal_year


def price_in_force(*, model_name: str, at: datetime) -> TokenPrice | None:
    """The price of a model at a moment: the latest one effective on or before it."""
    return (
        TokenPrice.objects.filter(model_name=model_name, effective_from__lte=at)
        .order_by("-effective_from")
        .first()
    )


def employee_budgets(*, employee: Employee, fiscal_year: int) -> QuerySet[Budget]:
    """Every budget that can serve the employee in a year: personal, team pool, their projects."""
    owners = Q(employee=employee)
    if employee.team_id:
        owners |= Q(team_id=employee.team_id)
    owners |= Q(project__members=employee)
    return (
        Budget.objects.filter(owners, fiscal_year=fiscal_year)
        .select_related("employee__user", "team", "project")
        .distinct()
    )


@dataclass(frozen=True)
class BudgetBalance:
    budget: Budget
    owner_kind: str
    allocated_micros: Micros
    spent_micros: Micros
    remaining_micros: Micros
    utilisation_percent: Decimal | None
    tokens_left: int


def budget_balance(*, budget: Budget, usd_per_token: Decimal | None = None) -> BudgetBalance:
    rate = usd_per_token or company_settings().reference_rate_usd_per_token
    remaining = budget.allocated_micros - budget.spent_micros
    return BudgetBalance(
        budget=budget,
        owner_kind=budget.owner_kind,
        allocated_micros=budget.allocated_micros,
        spent_micros=budget.spent_micros,
        remaining_micros=remaining,
        utilisation_percent=utilisation_percent(
            allocated_micros=budget.allocated_micros, spent_micros=budget.spent_micros
        ),
        tokens_left=tokens_at_rate(remaining, rate),
    )


_KIND_ORDER = {OwnerKind.PROJECT: 0, OwnerKind.EMPLOYEE: 1, OwnerKind.TEAM: 2}


def employee_balance(*, employee: Employee, fiscal_year: int | None = None) -> list[BudgetBalance]:
    """The employee's balance in every budget that can serve them, in drawdown order."""
    fiscal_year = fiscal_year or current_fiscal_year()
    rate = company_settings().reference_rate_usd_per_token
    budgets = sorted(
        employee_budgets(employee=employee, fiscal_year=fiscal_year),
        key=lambda b: (_KIND_ORDER[b.owner_kind], b.pk),
    )
    return [budget_balance(budget=b, usd_per_token=rate) for b in budgets]
