"""A small company with a fiscal year starting in April, usage at the quarter's boundary seconds,
carryover, an expiry, a forfeiture, a price correction, an approval and productivity metrics."""

from datetime import date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from approvals.models import RequestKind
from approvals.services import request_decide, request_submit
from budgets.models import EntryKind, LedgerEntry
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_post
from people.models import Department
from people.selectors import company_settings
from reporting.models import ProductivityMetric
from tests.factories import EmployeeFactory, ProjectFactory, TeamFactory, level

K = 10**6


def at(*parts: int) -> datetime:
    """An aware moment in the company's zone."""
    return datetime(*parts, tzinfo=timezone.get_default_timezone())


def dollars(text: str) -> int:
    return int(Decimal(text) * K)


@pytest.fixture
def april_company(db):
    row = company_settings()
    row.fiscal_year_start_month = 4
    row.name = "Acme & Sons"
    row.save()
    return row


@pytest.fixture
def company(april_company):
    data = Department.objects.create(name="Data")
    platform = Department.objects.create(name="Platform")
    t1 = TeamFactory(name="Lakehouse", department=data)
    t2 = TeamFactory(name="Runtime", department=platform)
    mgr = EmployeeFactory(user__first_name="Mia", level=level("staff"), team=t1)
    alice = EmployeeFactory(user__first_name="Alice", level=level("mid"), team=t1, manager=mgr)
    bob = EmployeeFactory(user__first_name="Bob", level=level("senior"), team=t2)
    carol = EmployeeFactory(user__first_name="Carol", level=level("junior"), team=None)
    apollo = ProjectFactory(code="apollo", name="Apollo")
    apollo.members.add(alice)
    budgets = {}
    for person, amount in ((mgr, "250000"), (alice, "100000"), (bob, "150000"), (carol, "10")):
        budget, _ = budget_create(fiscal_year=2026, employee=person)
        budget_allocate(budget=budget, amount_micros=dollars(amount), acting_user=None)
        budgets[person.pk] = budget
    project_budget, _ = budget_create(fiscal_year=2026, project=apollo)
    budget_allocate(budget=project_budget, amount_micros=dollars("5000"), acting_user=None)
    last_year, _ = budget_create(fiscal_year=2025, employee=alice)
    budget_allocate(budget=last_year, amount_micros=dollars("100000"), acting_user=None)

    def use(who, when, cost, *, model="m", category="testing", project=None, event_id):
        usage_post(
            employee=who,
            event_id=event_id,
            model_name=model,
            occurred_at=when,
            input_tokens=1000,
            output_tokens=500,
            cost_micros=dollars(cost),
            category=category,
            project=project,
        )

    use(alice, at(2026, 3, 31, 23, 59, 59), "7.000001", event_id="before-start")
    use(alice, at(2026, 4, 1, 0, 0, 0), "10.5", event_id="first-second")
    use(
        alice,
        at(2026, 5, 10, 12),
        "20.25",
        model="n",
        category="code_review",
        project=apollo,
        event_id="project",
    )
    use(bob, at(2026, 6, 30, 23, 59, 59), "100.123456", event_id="last-second")
    use(bob, at(2026, 7, 1, 0, 0, 0), "50", event_id="after-end")
    use(carol, at(2026, 6, 1, 9), "3.333333", category="debugging", event_id="carol")
    use(alice, at(2025, 5, 5, 10), "40", event_id="last-year")

    bob_budget = budgets[bob.pk]
    LedgerEntry.objects.create(
        budget=bob_budget,
        kind=EntryKind.USAGE_CORRECTION,
        amount_micros=-dollars("1"),
        created_at=at(2026, 6, 15, 12),
        memo="m repriced",
    )
    budget_allocate(
        budget=bob_budget,
        amount_micros=dollars("500"),
        acting_user=None,
        kind=EntryKind.CARRYOVER_IN,
    )
    LedgerEntry.objects.create(
        budget=bob_budget,
        kind=EntryKind.EXPIRY,
        amount_micros=-dollars("100"),
        created_at=at(2026, 6, 20, 12),
        memo="carryover expired",
    )
    LedgerEntry.objects.create(
        budget=last_year,
        kind=EntryKind.FORFEITURE,
        amount_micros=-dollars("30"),
        created_at=at(2026, 4, 1, 1),
        memo="forfeited at rollover",
    )
    with time_machine.travel(at(2026, 5, 15, 12)):
        request = request_submit(
            kind=RequestKind.INCREASE,
            requester=alice.user,
            employee=alice,
            amount_micros=dollars("1000"),
            reason="agents for the migration",
        )
        request_decide(request=request, user=mgr.user, approve=True)
    for month, value in (((2026, 4, 1), "10"), ((2026, 5, 1), "5")):
        ProductivityMetric.objects.create(
            team=t1,
            month=date(*month),
            metric="merged_pull_requests",
            value=Decimal(value),
        )
    return {
        "mgr": mgr,
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "apollo": apollo,
        "teams": (t1, t2),
        "budgets": budgets,
    }
