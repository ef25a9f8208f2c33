"""Transfers between budgets (person → project, pool → person, project → project): what a
transfer request names and checks at submission, and whose consent its chain asks for. The
chain is both sides' owners and each side's approvers (the engine resolves them,
`approvals.services`); the money moves on the final approval as one pair of entries
(`approvals.effects.transfer_post`, through `budgets.services.budget_transfer`)."""

from budgets.models import Budget
from common.errors import AllotError
from common.money import Micros, format_usd
from people.models import Employee


def budget_owner(budget: Budget) -> Employee | None:
    """Who speaks for a budget: its person, its team's lead, its project's lead."""
    if budget.employee_id:
        return budget.employee
    if budget.team_id:
        return budget.team.lead
    return budget.project.lead if budget.project_id else None


def budget_label(budget: Budget) -> str:
    if budget.employee_id:
        return f"{budget.employee}'s budget"
    if budget.team_id:
        return f"the {budget.team} pool"
    return f"project {budget.project}"


def _side(details: dict, name: str, fiscal_year: int) -> Budget:
    raw = details.get(name)
    try:
        budget_id = int(raw)
    except (TypeError, ValueError):
        raise AllotError("Choose the budget.", field=name) from None
    budget = (
        Budget.objects.select_related("employee__user", "team__lead", "project__lead")
        .filter(pk=budget_id)
        .first()
    )
    if budget is None:
        raise AllotError("No such budget.", field=name)
    if budget.fiscal_year != fiscal_year:
        raise AllotError(
            f"That is a FY{budget.fiscal_year} budget; transfers move this year's money "
            f"(FY{fiscal_year}).",
            field=name,
        )
    if budget.employee_id and not budget.employee.is_active:
        raise AllotError(f"{budget.employee} has left: their budget is closed.", field=name)
    return budget


def transfer_sides(details: dict | None, *, fiscal_year: int) -> tuple[Budget, Budget]:
    """The source and destination budgets a transfer names (`details["source"]`,
    `details["destination"]`), or an AllotError on the field that is wrong."""
    details = details or {}
    source = _side(details, "source", fiscal_year)
    destination = _side(details, "destination", fiscal_year)
    if source.pk == destination.pk:
        raise AllotError("Choose two different budgets.", field="destination")
    return source, destination


def transfer_check(*, source: Budget, destination: Budget, amount_micros: Micros) -> dict:
    """What a transfer request stores, once it fits in what the source has not used."""
    available = source.allocated_micros - source.spent_micros - source.reserved_micros
    if amount_micros > available:
        label = budget_label(source)
        raise AllotError(
            f"{label[0].upper()}{label[1:]} has {format_usd(max(available, 0))} left to move.",
            field="amount",
        )
    return {
        "source": source.pk,
        "destination": destination.pk,
        "source_label": budget_label(source),
        "destination_label": budget_label(destination),
    }
