"""Defects the attacks of issue 8 found, each pinned by the smallest test that shows it."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_ingest
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, api_key

pytestmark = pytest.mark.django_db


def test_balance_of_a_budget_spent_by_a_trickle_has_no_run_out_date_instead_of_a_500(client):
    """Found by the load test: 30 micro-dollars of spend in a month against a $10,000 budget put the
    projected run-out date past the year 9999 (OverflowError, a 500 on the balance API)."""
    engineer = EmployeeFactory(user__email="eng@example.com")
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=engineer)
    budget_allocate(budget=budget, amount_micros=10_000_000_000, acting_user=None)
    usage_ingest(
        events=[
            {
                "id": "trickle",
                "employee": "eng@example.com",
                "model": "m",
                "input_tokens": 1,
                "output_tokens": 0,
                "cost_usd": "0.000030",
                "occurred_at": (timezone.now() - timedelta(hours=1)).isoformat(),
            }
        ],
        source="t",
    )

    response = client.get(
        "/api/v1/employees/eng@example.com/balance/",
        headers={"Authorization": f"Api-Key {api_key('read_balances')}"},
    )

    assert response.status_code == 200, response.content
    personal = json.loads(response.content)["budgets"][0]
    assert personal["projected_exhaustion_date"] is None


def test_an_offer_approver_does_not_see_the_hr_requesters_own_budget(client):
    """Found by review: an offer request has no employee, so its page fell back to the
    requester (HR) and showed the hiring manager HR's balances and spend chart."""
    from compensation.services import offer_submit
    from tests.compensation.conftest import make_offer
    from tests.factories import hr_user

    hr = hr_user()
    hr_employee = EmployeeFactory(user=hr)
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=hr_employee)
    budget_allocate(budget=budget, amount_micros=12_345_000_000, acting_user=None)
    manager = EmployeeFactory()
    offer = make_offer({"team": manager.team, "manager": manager, "hr": hr})
    request = offer_submit(offer=offer, acting_user=hr, reason="Strong loop")
    client.force_login(manager.user)

    page = client.get(f"/requests/{request.pk}/")

    assert page.status_code == 200
    assert "$12,345.00" not in page.content.decode()


def test_a_fiscal_year_still_running_is_previewed_but_never_committed_by_the_command():
    """Found by review: nothing stopped finance (or the command) from closing the current
    year, forfeiting money people were still spending."""
    from io import StringIO

    from django.core.management import CommandError, call_command

    from budgets.models import RolloverRun, RolloverState

    year = current_fiscal_year()
    engineer = EmployeeFactory()
    budget, _ = budget_create(fiscal_year=year, employee=engineer)
    budget_allocate(budget=budget, amount_micros=1_000_000_000, acting_user=None)

    call_command("rollover", fiscal_year=year, dry_run=True, stdout=StringIO())
    with pytest.raises(CommandError, match="has not ended"):
        call_command("rollover", fiscal_year=year, stdout=StringIO())

    assert RolloverRun.objects.get(fiscal_year=year).state == RolloverState.PREVIEWED
    budget.refresh_from_db()
    assert budget.allocated_micros == 1_000_000_000
