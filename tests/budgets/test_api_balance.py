import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from budgets.api_auth import PerKeyThrottle
from budgets.models import IntegrationKey, UsageEvent
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_ingest
from common.money import divide_micros
from people.selectors import company_today, current_fiscal_year
from tests.factories import EmployeeFactory, api_key, finance_user

pytestmark = pytest.mark.django_db


def url(email):
    return f"/api/v1/employees/{email}/balance/"


@pytest.fixture
def people():
    boss = EmployeeFactory(user__email="boss@example.com")
    manager = EmployeeFactory(user__email="manager@example.com", manager=boss)
    engineer = EmployeeFactory(user__email="eng@example.com", manager=manager)
    stranger = EmployeeFactory(user__email="stranger@example.com")
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=engineer)
    budget_allocate(budget=budget, amount_micros=3_000 * 10**6, acting_user=None)
    return {"boss": boss, "manager": manager, "engineer": engineer, "stranger": stranger}


def test_the_balance_reports_totals_burn_rate_and_projection(client, people):
    today = company_today()
    events = [
        {
            "id": f"e{day}",
            "employee": "eng@example.com",
            "model": "m",
            "input_tokens": 1,
            "output_tokens": 1,
            "cost_usd": "30",
            "occurred_at": (timezone.now() - timedelta(days=day)).isoformat(),
        }
        for day in range(10)
    ]
    assert usage_ingest(events=events).accepted == 10  # $300 over the last 30 days
    key = api_key("read_balances", source="reader")

    response = client.get(url("eng@example.com"), HTTP_AUTHORIZATION=f"Api-Key {key}")

    assert response.status_code == 200
    [personal] = response.json()["budgets"]
    assert personal["allocated_usd"] == "3000.000000"
    assert personal["spent_usd"] == "300.000000"
    assert personal["remaining_usd"] == "2700.000000"
    assert personal["utilisation_percent"] == "10.00"
    assert personal["burn_rate_usd_per_day"] == "10.000000"
    expected = today + timedelta(days=270)
    assert personal["projected_exhaustion_date"] == expected.isoformat()
    assert personal["tokens_left"] == 27_000_000  # $2,700 at $0.0001 per token


def test_a_key_without_the_read_balances_scope_cannot_read_balances(client, people):
    key = api_key("ingest", "authorize")
    response = client.get(url("eng@example.com"), HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 403
    assert "read_balances" in response.json()["detail"]


@pytest.mark.parametrize(
    ("viewer", "status"),
    [
        ("engineer", 200),
        ("manager", 200),
        ("boss", 200),
        ("stranger", 404),
    ],
)
def test_people_see_their_own_balance_and_their_reports_only(client, people, viewer, status):
    client.force_login(people[viewer].user)
    assert client.get(url("eng@example.com")).status_code == status


def test_transparency_hides_amounts_from_a_signed_in_engineer(client, people):
    from people.models import CompanySettings, Transparency

    company = CompanySettings.objects.get(pk=1)
    company.transparency_default = Transparency.ABSTRACTED
    company.save()
    client.force_login(people["engineer"].user)
    [personal] = client.get(url("eng@example.com")).json()["budgets"]
    assert personal["allocated_usd"] is None and personal["tokens_left"] is None
    assert personal["utilisation_percent"] == "0.00"
    company.transparency_default = Transparency.TOKENS_ONLY
    company.save()
    tokens_only = client.get(url("eng@example.com")).json()
    [personal] = tokens_only["budgets"]
    assert personal["allocated_usd"] is None and personal["tokens_left"] > 0
    # tokens times the rate would give the dollars back
    assert tokens_only["reference_rate_usd_per_token"] is None
    client.force_login(finance_user())
    seen = client.get(url("eng@example.com")).json()
    assert seen["budgets"][0]["allocated_usd"] == "3000.000000"
    assert seen["reference_rate_usd_per_token"] is not None


def test_finance_sees_any_balance_and_anonymous_none(client, people):
    assert client.get(url("eng@example.com")).status_code in (401, 403)
    client.force_login(finance_user())
    assert client.get(url("eng@example.com")).status_code == 200
    assert client.get(url("nobody@example.com")).status_code == 404


def test_the_balance_reads_stored_totals_not_events(client, people, django_assert_max_num_queries):
    client.force_login(people["engineer"].user)
    usage_ingest(
        events=[
            {
                "id": f"q{n}",
                "employee": "eng@example.com",
                "model": "m",
                "input_tokens": 1,
                "output_tokens": 1,
                "cost_usd": "1",
                "occurred_at": timezone.now().isoformat(),
            }
            for n in range(200)
        ]
    )
    assert UsageEvent.objects.count() == 200
    with django_assert_max_num_queries(12):
        assert client.get(url("eng@example.com")).status_code == 200


def test_each_key_is_throttled_with_a_retry_after(client, people, monkeypatch):
    monkeypatch.setattr(PerKeyThrottle, "THROTTLE_RATES", {"api": "3/min"})
    cache.clear()
    key = api_key("read_balances", source="reader")
    answers = [
        client.get(url("eng@example.com"), HTTP_AUTHORIZATION=f"Api-Key {key}") for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1]["Retry-After"]) > 0
    cache.clear()


def test_create_api_key_prints_the_key_once_and_stores_only_a_hash(client, people):
    out = StringIO()
    call_command("create_api_key", "LiteLLM proxy", "--scopes=read_balances", stdout=out)
    key = out.getvalue().splitlines()[1]
    stored = IntegrationKey.objects.get(name="LiteLLM proxy")

    assert stored.source == "litellm-proxy"
    assert key not in json.dumps(list(IntegrationKey.objects.values()), default=str)
    response = client.get(url("eng@example.com"), HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 200
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_employee_balance_reads_budgets_and_owners_as_the_orm_does(
    people, django_assert_num_queries
):
    """The one-statement read builds the same budgets the ORM would, owners included: decimals,
    JSON and aware datetimes converted, and nothing left to load lazily."""
    from budgets.models import Budget, Enforcement
    from budgets.selectors import employee_balance, employee_budgets
    from tests.factories import ProjectFactory, TeamFactory

    engineer = people["engineer"]
    team = TeamFactory(has_pool=True)
    engineer.team = team
    engineer.save()
    mine, theirs = ProjectFactory(), ProjectFactory()
    mine.members.add(engineer)
    year = current_fiscal_year()
    for owner in ({"team": team}, {"project": mine}, {"project": theirs}):
        budget, _ = budget_create(fiscal_year=year, **owner)
        budget_allocate(budget=budget, amount_micros=500 * 10**6, acting_user=None)
    Budget.objects.filter(team=team).update(
        enforcement=Enforcement.HARD_OVERDRAFT,
        overdraft_percent="12.50",
        alert_thresholds=[40, 90],
    )
    usage_ingest(
        events=[
            {
                "id": "p1",
                "employee": "eng@example.com",
                "model": "m",
                "input_tokens": 1,
                "output_tokens": 1,
                "cost_usd": "7.25",
                "project": mine.code,
                "occurred_at": timezone.now().isoformat(),
            }
        ]
    )
    expected = {b.pk: b for b in employee_budgets(employee=engineer, fiscal_year=year)}

    with django_assert_num_queries(1):
        rows = employee_balance(employee=engineer, fiscal_year=year)
        labels = [row.budget.owner_label for row in rows]

    assert [row.owner_kind for row in rows] == ["project", "employee", "team"]
    assert labels[0].endswith(mine.name) and labels[2].endswith(team.name)
    assert "eng@example.com" in labels[1] or engineer.user.get_full_name() in labels[1]
    assert {row.budget.pk for row in rows} == set(expected)
    for row in rows:
        orm = expected[row.budget.pk]
        for field in Budget._meta.concrete_fields:
            got, want = getattr(row.budget, field.attname), getattr(orm, field.attname)
            assert got == want and type(got) is type(want), field.name
    pool = rows[2]
    assert pool.budget.limit_micros == 562_500_000
    assert pool.budget.thresholds([50]) == [40, 90]
    assert rows[0].spent_micros == 7_250_000
    assert rows[0].burn_rate_micros_per_day == divide_micros(7_250_000, 30)
    assert timezone.is_aware(rows[0].budget.created_at)
