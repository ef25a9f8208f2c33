"""The company overview: HR's, finance's and superusers' home instead of "No token budget here"."""

import pytest
from django.urls import reverse
from django.utils import timezone

from budgets.overview import company_overview
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_ingest
from people.selectors import company_today, current_fiscal_year
from tests.factories import (
    DepartmentFactory,
    EmployeeFactory,
    ProjectFactory,
    TeamFactory,
    UserFactory,
    finance_user,
    hr_user,
)

pytestmark = pytest.mark.django_db
USD = 10**6


def spend(email: str, event_id: str, usd: str) -> None:
    usage_ingest(
        events=[
            {
                "id": event_id,
                "employee": email,
                "model": "claude-sonnet-4",
                "input_tokens": 10,
                "output_tokens": 10,
                "cost_usd": usd,
                "occurred_at": timezone.now().isoformat(),
                "category": "debugging",
            }
        ]
    )


@pytest.fixture
def company():
    year = current_fiscal_year()
    research = TeamFactory(department=DepartmentFactory(name="Research"))
    sales = TeamFactory(department=DepartmentFactory(name="Sales"))
    ada = EmployeeFactory(user__email="ada@example.com", team=research)
    bob = EmployeeFactory(user__email="bob@example.com", team=sales)
    for person, usd in ((ada, 1_000), (bob, 500)):
        budget, _ = budget_create(fiscal_year=year, employee=person)
        budget_allocate(budget=budget, amount_micros=usd * USD, acting_user=None)
    pool, _ = budget_create(fiscal_year=year, team=research)
    budget_allocate(budget=pool, amount_micros=2_000 * USD, acting_user=None)
    project, _ = budget_create(fiscal_year=year, project=ProjectFactory())
    budget_allocate(budget=project, amount_micros=300 * USD, acting_user=None)
    spend("ada@example.com", "a1", "250.25")
    spend("bob@example.com", "b1", "480")  # 96 %: past the 90 % line
    return {"ada": ada, "bob": bob, "year": year}


def test_spend_against_budget_by_department_sums_to_the_company_total(company):
    overview = company_overview(fiscal_year=company["year"], today=company_today())
    lines = {d.label: (d.allocated_micros, d.spent_micros) for d in overview.departments}
    assert lines == {
        "Research": (3_000 * USD, 250_250_000),  # Ada's budget and the team pool
        "Sales": (500 * USD, 480 * USD),
        "Projects": (300 * USD, 0),
    }
    assert overview.total.allocated_micros == 3_800 * USD
    assert overview.total.spent_micros == 730_250_000
    assert [d.label for d in overview.departments] == ["Sales", "Research", "Projects"]
    assert [m.budget.employee_id for m in overview.movers] == [company["bob"].pk, company["ada"].pk]
    assert [m.last_30_days_micros for m in overview.movers] == [480 * USD, 250_250_000]
    assert [b.employee_id for b in overview.over_alert] == [company["bob"].pk]
    assert overview.over_alert_count == 1 and overview.over_budget_count == 0


@pytest.mark.parametrize("make_user", [hr_user, finance_user])
def test_hr_and_finance_land_on_the_overview(client, company, make_user):
    client.force_login(make_user())
    page = client.get(reverse("dashboard"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "No token budget here" not in text
    assert "Company overview" in text
    assert "$730.25" in text and "$3,800.00" in text and "19.22%" in text
    assert "Research" in text and "Sales" in text and 'aria-label="Spend by department"' in text
    assert "No requests waiting" in text and "1 budget at 90% or more, 0 over" in text
    assert client.get(reverse("company")).status_code == 200


def test_an_engineer_may_not_open_the_overview(client, company):
    client.force_login(company["ada"].user)
    assert client.get(reverse("company")).status_code == 403
    lost = UserFactory()
    client.force_login(lost)
    assert "No token budget here" in client.get(reverse("dashboard")).content.decode()
    assert client.get(reverse("company")).status_code == 403
