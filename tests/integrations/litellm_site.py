"""The people and budgets the LiteLLM integration test needs, made inside the Allot server's own
database (run by the test with `manage.py shell -c`, so through Allot's services and kernel)."""

import json
from decimal import Decimal

from budgets.models import Budget, Enforcement, IntegrationKey
from budgets.services import budget_allocate, budget_create
from common.money import dollars_to_micros
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, ProjectFactory

# email -> hard limit in dollars (None: no budget at all)
PEOPLE = {
    "ok@example.com": "100",
    "broke@example.com": "0.0001",
    "stream@example.com": "100",
    "down@example.com": "100",
    "open@example.com": "100",
    "emb@example.com": "100",
    "proj@example.com": "100",
    "race@example.com": "0",
    "nobudget@example.com": None,
    "gone@example.com": "100",
    "fail@example.com": "100",
    "slow@example.com": "100",
    "refused@example.com": "100",
}
PROJECT = "checkout-v2"


def _budget(year: int, dollars: str, **owner) -> Budget:
    budget, _ = budget_create(fiscal_year=year, enforcement=Enforcement.HARD, **owner)
    micros = dollars_to_micros(Decimal(dollars))
    if micros:
        budget_allocate(budget=budget, amount_micros=micros, acting_user=None)
    return budget


def site() -> None:
    year = current_fiscal_year()
    employees = {}
    for email, dollars in PEOPLE.items():
        employee = EmployeeFactory(user__email=email, user__username=email)
        employees[email] = employee
        if dollars is not None:
            _budget(year, dollars, employee=employee)
    gone = employees["gone@example.com"]
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    project = ProjectFactory(code=PROJECT)
    project.members.add(employees["proj@example.com"])
    _budget(year, "50", project=project)
    _, key = IntegrationKey.objects.create_key(
        name="litellm test", source="litellm", scopes=["ingest", "authorize"]
    )
    print(json.dumps({"key": key}))


def allocate(email: str, dollars: str) -> None:
    budget = Budget.objects.get(employee__user__email=email, fiscal_year=current_fiscal_year())
    budget_allocate(
        budget=budget, amount_micros=dollars_to_micros(Decimal(dollars)), acting_user=None
    )
