"""Issue 21 (4): a team pool's and a project's standing annual amount, allocated at each
rollover (prorated for a project that starts or ends in the year), beside the same carryover
rules, and shown in the rollover preview."""

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.urls import reverse

from budgets.calculations import prorate_between_micros
from budgets.models import Budget, EntryKind, LedgerEntry
from budgets.rollover import rollover_confirm, rollover_execute, rollover_preview
from budgets.rollover.preview import rollover_preview_rows
from budgets.services import budget_allocate, budget_create
from common.fiscal import Period
from tests.factories import ProjectFactory, TeamFactory, finance_user, hr_user

pytestmark = pytest.mark.django_db
D = 10**6
FY2027 = Period(date(2027, 1, 1), date(2028, 1, 1))  # 365 days
NEW_YEAR = datetime(2027, 1, 4, 12, tzinfo=UTC)


def test_prorating_between_two_days():
    assert prorate_between_micros(365 * D, start=date(2020, 1, 1), end=None, period=FY2027) == (
        365 * D
    )
    # Jan 1 to Jun 30 inclusive: 181 days; from Oct 1 on: 92; ends before the year: nothing
    half = prorate_between_micros(
        365 * D, start=date(2026, 3, 1), end=date(2027, 6, 30), period=FY2027
    )
    assert half == 181 * D
    late = prorate_between_micros(365 * D, start=date(2027, 10, 1), end=None, period=FY2027)
    assert late == 92 * D
    assert (
        prorate_between_micros(
            365 * D, start=date(2026, 1, 1), end=date(2026, 12, 31), period=FY2027
        )
        == 0
    )


@pytest.fixture
def funded():
    pool_team = TeamFactory(has_pool=True, pool_annual_micros=12_000 * D)
    running = ProjectFactory(code="running", annual_micros=3_650 * D, ends_on=date(2027, 6, 30))
    ending = ProjectFactory(code="ending", annual_micros=5_000 * D, ends_on=date(2026, 12, 31))
    for owner in ({"team": pool_team}, {"project": running}, {"project": ending}):
        budget, _ = budget_create(fiscal_year=2026, **owner)
        budget_allocate(budget=budget, amount_micros=1_000 * D, acting_user=None)
    return {"team": pool_team, "running": running, "ending": ending}


def test_the_rollover_allocates_the_standing_amounts_once_and_the_preview_shows_them(funded):
    finance = finance_user()
    with time_machine.travel(NEW_YEAR, tick=False):
        run = rollover_preview(fiscal_year=2026, acting_user=finance)
        rows = {row[1]: row for row in rollover_preview_rows(run)}
        # the preview's new allocation column: the pool's whole amount, the project's share
        # for Jan 1 to Jun 30 (181 of 365 days), nothing for the project that ended
        header = list(rows["owner"])
        column = header.index("new_allocation_usd")
        assert str(rows[funded["team"].name][column]) == "12000.000000"
        assert str(rows["running"][column]) == "1810.000000"
        assert str(rows["ending"][column]) == "0.000000"
        assert run.breakdown["Team pools"][4] == 12_000 * D
        assert run.breakdown["Projects"][4] == 1_810 * D
        confirmed = rollover_confirm(run=run, acting_user=finance, enqueue=False)
        rollover_execute(run=confirmed)
        rollover_execute(run=confirmed)  # a second run posts nothing more

    pool = Budget.objects.get(team=funded["team"], fiscal_year=2027)
    allocation = LedgerEntry.objects.get(budget=pool, kind=EntryKind.ALLOCATION)
    assert allocation.amount_micros == 12_000 * D
    assert allocation.idempotency_key == f"standing-allocation:team:{funded['team'].pk}:fy:2027"
    assert allocation.acting_user == finance
    # beside the pool's own carryover rule (what the preview said it carries)
    carried_in = LedgerEntry.objects.filter(budget=pool, kind=EntryKind.CARRYOVER_IN)
    carried = sum(carried_in.values_list("amount_micros", flat=True))
    assert pool.allocated_micros == 12_000 * D + carried
    assert pool.carried_over_micros == carried
    project = Budget.objects.get(project=funded["running"], fiscal_year=2027)
    assert LedgerEntry.objects.get(budget=project, kind=EntryKind.ALLOCATION).amount_micros == (
        1_810 * D
    )
    assert not Budget.objects.filter(project=funded["ending"], fiscal_year=2027).exists()


def test_hr_sets_the_standing_amounts_in_the_admin(client, funded):
    client.force_login(hr_user())
    page = client.get(reverse("admin:people_team_change", args=[funded["team"].pk]))
    assert page.status_code == 200 and b"pool_annual_micros" in page.content
    page = client.get(reverse("admin:people_project_change", args=[funded["running"].pk]))
    assert page.status_code == 200 and b"annual_micros" in page.content
