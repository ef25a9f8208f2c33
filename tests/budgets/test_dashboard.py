from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from budgets.models import UsageCategory
from budgets.paid_rate import paid_rate
from budgets.selectors import SPEND_REST_LABEL, employee_monthly_spend, employee_spend_by
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_ingest
from people.models import CompanySettings, Transparency
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, finance_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    manager = EmployeeFactory(user__email="manager@example.com")
    engineer = EmployeeFactory(user__email="eng@example.com", manager=manager, team=manager.team)
    peer = EmployeeFactory(user__email="peer@example.com")
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=engineer)
    budget_allocate(budget=budget, amount_micros=100_000 * 10**6, acting_user=None)
    usage_ingest(
        events=[
            {
                "id": "e1",
                "employee": "eng@example.com",
                "model": "claude-sonnet-4",
                "input_tokens": 10,
                "output_tokens": 10,
                "cost_usd": "1234.5",
                "occurred_at": timezone.now().isoformat(),
                "category": "debugging",
            }
        ]
    )
    return {"manager": manager, "engineer": engineer, "peer": peer}


def test_the_engineer_sees_their_budget_charts_and_usage(client, org):
    client.force_login(org["engineer"].user)
    page = client.get(reverse("dashboard")).content.decode()
    assert "Your token budget" in page
    assert "$98,765.50" in page  # left
    # tokens left at what they paid ($1,234.50 for 20 tokens), not the $0.0001 reference rate
    assert "1,600 tokens" in page and "987,655,000 tokens" not in page
    assert "what this person paid over the last 90 days" in page
    assert "<svg" in page and "Debugging" in page and "claude-sonnet-4" in page


def test_anonymous_people_are_sent_to_sign_in(client, org):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_an_engineer_cannot_open_someone_elses_dashboard(client, org):
    client.force_login(org["peer"].user)
    theirs = client.get(reverse("person", args=[org["engineer"].pk]))
    nobody = client.get(reverse("person", args=[999_999]))
    assert theirs.status_code == nobody.status_code == 404
    assert client.get(reverse("team")).status_code == 403


def test_a_manager_sees_their_reports_and_only_them(client, org):
    client.force_login(org["manager"].user)
    team = client.get(reverse("team"))
    assert team.status_code == 200
    assert org["engineer"].display_name in team.content.decode()
    report = client.get(reverse("person", args=[org["engineer"].pk]))
    assert report.status_code == 200 and "$1,234.50" in report.content.decode()
    assert client.get(reverse("person", args=[org["peer"].pk])).status_code == 404


@pytest.mark.parametrize(
    ("transparency", "shown", "hidden"),
    [
        (Transparency.TRANSPARENT, ["$98,765.50", "tokens", "reference rate of $"], []),
        (
            Transparency.TOKENS_ONLY,
            ["987,655,000 tokens"],
            ["$98,765.50", "$1,234.50", "reference rate of $"],
        ),
        (
            Transparency.ABSTRACTED,
            ["1.23%"],
            ["$98,765.50", "$1,234.50", "987,655,000", "reference rate of $"],
        ),
    ],
)
def test_transparency_decides_what_engineers_see(client, org, transparency, shown, hidden):
    company = CompanySettings.objects.get(pk=1)
    company.transparency_default = transparency
    company.save()
    client.force_login(org["engineer"].user)
    page = client.get(reverse("dashboard")).content.decode()
    for text in shown:
        assert text in page, text
    for text in hidden:
        assert text not in page, text


def test_a_team_override_beats_the_company_default_and_finance_sees_all(client, org):
    team = org["engineer"].team
    team.transparency = Transparency.ABSTRACTED
    team.save()
    client.force_login(org["engineer"].user)
    assert "$98,765.50" not in client.get(reverse("dashboard")).content.decode()
    client.force_login(finance_user())
    page = client.get(reverse("person", args=[org["engineer"].pk])).content.decode()
    assert "$98,765.50" in page


def test_the_charts_by_category_and_by_model_sum_to_the_years_spend(client, org):
    # Given usage in every category (Other the smallest) over ten models
    categories = [c for c, _ in UsageCategory.choices]
    events = [
        {
            "id": f"c{index}",
            "employee": "eng@example.com",
            "model": f"model-{index}",
            "input_tokens": 1,
            "output_tokens": 1,
            "cost_usd": str(100 - index),
            "occurred_at": timezone.now().isoformat(),
            "category": category,
        }
        for index, category in enumerate(categories + ["other"])
    ]
    usage_ingest(events=events)
    engineer, year = org["engineer"], current_fiscal_year()
    total = sum(spent for _, spent in employee_monthly_spend(employee=engineer, fiscal_year=year))
    # When the dashboard groups it; then every category is there and each chart sums to it all
    by_category = employee_spend_by(
        employee=engineer, fiscal_year=year, field="category", limit=None
    )
    by_model = employee_spend_by(employee=engineer, fiscal_year=year, field="model_name")
    assert {c for c, _ in by_category} == set(categories)
    assert sum(v for _, v in by_category) == sum(v for _, v in by_model) == total
    assert len(by_model) == 8 and by_model[-1][0] == SPEND_REST_LABEL
    client.force_login(engineer.user)
    page = client.get(reverse("dashboard")).content.decode()
    assert ">Other</text>" in page and ">Learning</text>" in page


def test_runs_out_reads_the_same_on_the_dashboard_and_the_requests_page(client, org):
    # Given a budget whose burn rate would use it up years from now
    client.force_login(org["engineer"].user)
    dashboard = client.get(reverse("dashboard")).content.decode()
    requests_page = client.get(reverse("approvals:requests")).content.decode()
    # Then both pages say it does not run out this year, and neither names a later date
    assert "not this year at this rate" in dashboard
    assert "not this year at this rate" in requests_page
    later = [str(year) for year in range(current_fiscal_year() + 1, current_fiscal_year() + 40)]
    balances = requests_page[requests_page.index("Your budgets now") :]
    assert not any(f", {year}<" in balances for year in later)


def test_tokens_left_fall_back_to_the_company_rate(client, org):
    # Given a person with no usage of their own while the company's averages $61.725 a token
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=org["peer"])
    budget_allocate(budget=budget, amount_micros=1_234_500 * 10**3, acting_user=None)
    client.force_login(org["peer"].user)
    page = client.get(reverse("dashboard")).content.decode()
    # Then their $1,234.50 buys 20 tokens at the company's rate, and the page says so
    assert "20 tokens" in page and "what the company paid over the last 90 days" in page


def test_with_no_usage_anywhere_tokens_are_at_the_reference_rate(db):
    rate = paid_rate(employee=EmployeeFactory())
    assert rate.basis.startswith("the reference rate")
    assert rate.usd_per_token == Decimal("0.0001")


def test_a_refused_page_keeps_the_navigation_and_the_favicon_is_there(client, org):
    # Given an engineer with no reports opening the team page
    client.force_login(org["peer"].user)
    response = client.get(reverse("team"))
    page = response.content.decode()
    # Then a 403 inside the app's frame: its menu, sign-out and a way back
    assert response.status_code == 403
    assert "My budget" in page and "Sign out" in page and "You may not open this page" in page
    # And /favicon.ico leads to the icon every page names
    icon = client.get("/favicon.ico")
    assert icon.status_code == 302 and icon["Location"].endswith("favicon.svg")
    assert 'rel="icon"' in page
