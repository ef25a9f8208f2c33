"""A fiscal year simulated end to end, then closed with a price fall under each indexing policy:
hires (one on the year's first day, one mid-year), a promotion from June 2 (posted at once), a
permanent increase from July, an auto-approved top-up, a transfer to a project, usage priced
from the table, late usage after the close and the rollover. Every budget's totals at the end
are checked against the table below, worked out by hand (and every budget still equals the sum
of its entries).

FY2026 is the calendar year. The table prices the one model at $2 input / $8 output per million
tokens, and from 2027-01-01 at $1 / $4: the year's usage, all half input and half output, paid $5
per million tokens, and the same mix costs $2.50 at the new prices (a factor of 0.5 in tokens).
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Group

from approvals.models import ApprovalRule, RequestKind, RequestState
from approvals.services import request_decide, request_submit
from budgets.models import Budget, EntryKind, TokenPrice
from budgets.rollover import rollover_confirm, rollover_execute, rollover_preview
from budgets.services import budget_allocate, budget_create, employee_allocate_from_level
from budgets.usage import usage_post
from people.level_changes import employee_level_change
from people.models import BudgetIndexing, CompanySettings, LevelChangePolicy
from people.roles import FINANCE
from tests.budgets.test_ledger import assert_totals_match_entries
from tests.factories import EmployeeFactory, ProjectFactory, UserFactory, carry_half, level

pytestmark = pytest.mark.django_db
USD = 10**6
MODEL = "sim-model"
M = 1_000_000  # tokens


def usd(amount: str) -> int:
    return int(Decimal(amount) * USD)


# -- the hand-computed table ---------------------------------------------------------------------
# FY2026, before the close (allocated, spent), in dollars:
#   ann  (mid, all year)   100,000 + 1,840 permanent (3,650 x 184/365 from Jul 1)   spent 10,000
#   bo   (senior)          150,000 + 800 auto top-up - 5,000 to the project          spent 20,000
#   cy   (junior, Jul 1)   50,000 x 184/365 = 25,205.479452 (half up to the micro)   spent  1,000
#   dee  (mid, promoted to senior from Jun 2)  100,000 + 50,000 x 213/365
#                          = 100,000 + 29,178.082192 = 129,178.082192                 spent  1,000
#   project                20,000 + 5,000 in                                          spent  5,000
# The close carries half of what is unused (no cap), a running project all of it:
#   ann  unused 91,840: 45,920 carried, 45,920 forfeited
#   bo   unused 125,800: 62,900 carried, 62,900 forfeited
#   cy   unused 24,205.479452: 12,102.739726 carried, 12,102.739726 forfeited
#   dee  unused 128,178.082192: 64,089.041096 carried, 64,089.041096 forfeited
#   project unused 20,000: all carried
# Late usage: ann's $100 of Dec 30, reported on Jan 4, reverses $100 of her forfeiture.
# FY2027 allocations from levels are the level's (or agreed) dollars x the factor: ann's agreed
# 103,650 (the permanent increase), bo's 150,000, cy's 50,000, dee's 150,000 (now senior), and
# 100,000 for each of the four
# mid-level colleagues without an FY2026 budget (director, manager, lead, cto).
CLOSED = {
    "ann": (usd("10100"), usd("10100")),  # 101,840 - 45,920 - 45,920 + 100 reversed
    "bo": (usd("20000"), usd("20000")),
    "cy": (usd("1000"), usd("1000")),
    "dee": (usd("1000"), usd("1000")),
    "project": (usd("5000"), usd("5000")),
}
LEVEL_DOLLARS = {"ann": 103_650, "bo": 150_000, "cy": 50_000, "dee": 150_000}
COLLEAGUES = ("director", "manager", "lead", "cto")
FACTORS = {
    # dollars: the same dollars; tokens: 2.50 / 5.00; a blend halfway (0.75) held at its floor
    "dollars": ({"budget_indexing": BudgetIndexing.DOLLARS}, Decimal(1)),
    "tokens": ({"budget_indexing": BudgetIndexing.TOKENS}, Decimal("0.5")),
    "blend": (
        {
            "budget_indexing": BudgetIndexing.BLEND,
            "indexing_blend_weight": Decimal(50),
            "indexing_floor_pct": Decimal(80),
            "indexing_cap_pct": Decimal(120),
        },
        Decimal("0.8"),
    ),
}


# FY2027 allocated = allocation (dollars x factor) + carried in, by policy:
#   dollars (1):    ann 103,650 + 45,920; bo 150,000 + 62,900; cy 50,000 + 12,102.739726; 100,000
#   tokens (0.5):   ann  51,825 + 45,920; bo  75,000 + 62,900; cy 25,000 + 12,102.739726;  50,000
#   blend (0.8):    ann  82,920 + 45,920; bo 120,000 + 62,900; cy 40,000 + 12,102.739726;  80,000
#   dee, by policy: 150,000 / 75,000 / 120,000, each + 64,089.041096
NEW_YEAR = {
    "dollars": {
        "ann": "149570",
        "bo": "212900",
        "cy": "62102.739726",
        "dee": "214089.041096",
        "colleague": "100000",
    },
    "tokens": {
        "ann": "97745",
        "bo": "137900",
        "cy": "37102.739726",
        "dee": "139089.041096",
        "colleague": "50000",
    },
    "blend": {
        "ann": "128840",
        "bo": "182900",
        "cy": "52102.739726",
        "dee": "184089.041096",
        "colleague": "80000",
    },
}


def expected_new_year(policy_name: str) -> dict[str, int]:
    table = NEW_YEAR[policy_name]
    new = {name: usd(table[name]) for name in LEVEL_DOLLARS}
    new["project"] = usd("20000")  # a running project carries all it has left, allocates none
    new.update({name: usd(table["colleague"]) for name in COLLEAGUES})
    return new


# -- the year ------------------------------------------------------------------------------------


def on(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def use(person, event_id: str, millions: int, day: str, project=None) -> None:
    """Usage priced from the table: `millions` of input tokens and as many of output."""
    usage_post(
        employee=person,
        event_id=event_id,
        model_name=MODEL,
        occurred_at=on(day),
        input_tokens=millions * M,
        output_tokens=millions * M,
        project=project,
    )


def approve_all(request, finance):
    for step in request.steps.order_by("index"):
        request_decide(request=request, user=step.approver or finance, approve=True)
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    return request


def the_company() -> dict:
    """The policies, the price table (and its fall) and finance."""
    company = carry_half()
    company.level_change_policy = LevelChangePolicy.AUTOMATIC  # a promotion posts at once
    company.save()
    for when, input_usd, output_usd in ((on("2025-01-01", 0), 2, 8), (on("2027-01-01", 0), 1, 4)):
        TokenPrice.objects.create(
            model_name=MODEL,
            input_per_million_micros=input_usd * USD,
            output_per_million_micros=output_usd * USD,
            effective_from=when,
        )
    ApprovalRule.objects.create(
        kind=RequestKind.INCREASE,
        max_amount_micros=1_000 * USD,
        yearly_cap_micros=5_000 * USD,
        auto_approve=True,
        steps=["manager"],
    )
    finance = UserFactory(username="sim-finance@example.com")
    finance.groups.add(Group.objects.get(name=FINANCE))
    return {"finance": finance}


def the_year() -> dict:
    """FY2026 as it happened; returns the cast."""
    cast = the_company()
    with time_machine.travel(on("2026-01-02"), tick=False):
        cast["director"] = EmployeeFactory(user__email="director@example.com")
        cast["manager"] = EmployeeFactory(
            user__email="manager@example.com", manager=cast["director"]
        )
        cast["cto"] = EmployeeFactory(user__email="cto@example.com")
        cast["lead"] = EmployeeFactory(user__email="lead@example.com", manager=cast["cto"])
        # hires: two on the year's first day
        cast["ann"] = EmployeeFactory(user__email="ann@example.com", manager=cast["manager"])
        cast["bo"] = EmployeeFactory(
            user__email="bo@example.com", manager=cast["manager"], level=level("senior")
        )
        cast["dee"] = EmployeeFactory(user__email="dee@example.com", manager=cast["manager"])
        for name in ("ann", "bo", "dee"):
            employee_allocate_from_level(employee=cast[name], fiscal_year=2026, acting_user=None)
        project = cast["project"] = ProjectFactory(lead=cast["lead"], starts_on=date(2026, 1, 1))
        project.members.add(cast["bo"])
        project_budget, _ = budget_create(fiscal_year=2026, project=project)
        budget_allocate(budget=project_budget, amount_micros=20_000 * USD, acting_user=None)

    with time_machine.travel(on("2026-03-10"), tick=False):
        use(cast["ann"], "ann-march", 1_000, "2026-03-09")  # $10,000
        use(cast["bo"], "bo-march", 1_000, "2026-03-09")  # $10,000

    with time_machine.travel(on("2026-04-20"), tick=False):  # an auto-approved top-up
        top_up = request_submit(
            kind=RequestKind.INCREASE,
            requester=cast["bo"].user,
            employee=cast["bo"],
            amount_micros=800 * USD,
            reason="a refactoring sprint",
        )
        assert top_up.state == RequestState.APPROVED  # by the rule, nobody in person

    with time_machine.travel(on("2026-05-05"), tick=False):  # bo moves money to the project
        transfer = request_submit(
            kind=RequestKind.TRANSFER,
            requester=cast["bo"].user,
            amount_micros=5_000 * USD,
            reason="the migration moves to the project",
            details={
                "source": Budget.objects.get(employee=cast["bo"], fiscal_year=2026).pk,
                "destination": project_budget.pk,
            },
        )
        approve_all(transfer, cast["finance"])

    with time_machine.travel(on("2026-06-01"), tick=False):  # a promotion, posted at once
        outcome = employee_level_change(
            employee=cast["dee"],
            new_level=level("senior"),
            effective=date(2026, 6, 2),
            acting_user=None,
            source="admin",
        )
        assert outcome.posted and outcome.amount_micros == usd("29178.082192"), outcome.sentence

    with time_machine.travel(on("2026-06-15"), tick=False):
        permanent = request_submit(
            kind=RequestKind.PERMANENT_INCREASE,
            requester=cast["ann"].user,
            employee=cast["ann"],
            amount_micros=3_650 * USD,
            reason="moved to the platform team",
            details={"effective_from": "2026-07-01"},
        )
        approve_all(permanent, cast["finance"])

    with time_machine.travel(on("2026-07-01", 9), tick=False):  # a hire in the middle of the year
        cast["cy"] = EmployeeFactory(
            user__email="cy@example.com",
            manager=cast["manager"],
            level=level("junior"),
            hire_date=date(2026, 7, 1),
        )
        employee_allocate_from_level(employee=cast["cy"], fiscal_year=2026, acting_user=None)

    with time_machine.travel(on("2026-09-01"), tick=False):
        use(cast["bo"], "bo-project", 500, "2026-08-31", project=project)  # $5,000, the project's
        use(cast["bo"], "bo-september", 1_000, "2026-08-31")  # $10,000
        use(cast["cy"], "cy-september", 100, "2026-08-31")  # $1,000
        use(cast["dee"], "dee-september", 100, "2026-08-31")  # $1,000
    return cast


@pytest.mark.parametrize("policy_name", list(FACTORS))
def test_a_year_closes_into_the_next_under_each_indexing_policy(policy_name):
    # given the year as it happened
    cast = the_year()
    assert _totals(cast, 2026, CLOSED) == {
        "ann": (usd("101840"), usd("10000")),
        "bo": (usd("145800"), usd("20000")),
        "cy": (usd("25205.479452"), usd("1000")),
        "dee": (usd("129178.082192"), usd("1000")),
        "project": (usd("25000"), usd("5000")),
    }
    settings, factor = FACTORS[policy_name]
    row = CompanySettings.objects.get(pk=1)
    for field, value in settings.items():
        setattr(row, field, value)
    row.full_clean()
    row.save()

    # when finance closes it after the prices fell, and late usage arrives
    with time_machine.travel(on("2027-01-02"), tick=False):
        run = rollover_preview(fiscal_year=2026, acting_user=cast["finance"])
        assert (run.effective_rate_closing, run.effective_rate_new) == (Decimal(5), Decimal("2.5"))
        assert run.indexing_factor == factor
        run = rollover_confirm(run=run, acting_user=cast["finance"], enqueue=False, chunk_size=3)
        assert rollover_execute(run=run, chunk_size=3).finished
    with time_machine.travel(on("2027-01-04"), tick=False):
        use(cast["ann"], "ann-late", 10, "2026-12-30")  # $100 of the closed year, reported late

    # then every budget is what the table says
    assert _totals(cast, 2026, CLOSED) == CLOSED
    new_year = (*LEVEL_DOLLARS, "project", *COLLEAGUES)
    assert _totals(cast, 2027, new_year) == {
        name: (allocated, 0) for name, allocated in expected_new_year(policy_name).items()
    }
    assert Budget.objects.count() == len(CLOSED) + len(new_year)
    ann_2026 = Budget.objects.get(employee=cast["ann"], fiscal_year=2026)
    forfeitures = ann_2026.entries.filter(kind=EntryKind.FORFEITURE)
    assert sorted(forfeitures.values_list("amount_micros", flat=True)) == [
        usd("-45920"),
        usd("100"),
    ]
    for budget in Budget.objects.all():
        assert_totals_match_entries(budget)


def _totals(cast, year: int, names) -> dict[str, tuple[int, int]]:
    """(allocated, spent) of each named owner's budget of `year`."""
    found = {}
    for name in names:
        owner = {"project" if name == "project" else "employee": cast[name]}
        budget = Budget.objects.get(fiscal_year=year, **owner)
        found[name] = (budget.allocated_micros, budget.spent_micros)
    return found
