"""A level changed mid-year: the level and what later years start from change at once; this
year's prorated difference is posted, asked for or left to next year as the company's policy
says; a decrease never goes below what is spent and held; the same change twice posts once."""

import contextlib
from datetime import UTC, date, datetime

import pytest
import time_machine
from django.contrib.auth.models import Group

from approvals.models import ApprovalRequest, RequestKind, RequestState
from approvals.services import request_decide
from budgets.ledger.keys import approval_request_key
from budgets.models import Budget, EntryKind, LedgerEntry
from budgets.rollover import rollover_confirm, rollover_execute, rollover_preview
from budgets.services import budget_allocate, budget_create, employee_allocate_from_level
from common.errors import AllotError
from people.level_changes import employee_level_change, employee_level_change_preview
from people.models import CompanySettings, LevelChangePolicy
from people.roles import FINANCE
from tests.factories import EmployeeFactory, UserFactory, hr_user, level, price
from tests.people.test_leavers import spend

K = 10**6
JUNE = datetime(2026, 6, 15, 12, tzinfo=UTC)  # FY2026 is 2026-01-01 to 2026-12-31: 365 days
# mid (100,000) to senior (150,000) from June 15: 200 of 365 days left, rounded half-up.
UP_FROM_JUNE = 27_397_260_274

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _june():
    with time_machine.travel(JUNE, tick=False):
        yield


def policy(value: str) -> None:
    row, _ = CompanySettings.objects.get_or_create(pk=1)
    row.level_change_policy = value
    row.save()


def allocated(name: str = "mid", **fields):
    """An employee with this year's allocation from their level already posted."""
    manager = EmployeeFactory(user__email=f"manager-of-{name}@example.com")
    employee = EmployeeFactory(level=level(name), manager=manager, **fields)
    employee_allocate_from_level(employee=employee, fiscal_year=2026, acting_user=None)
    return employee


def budget_of(employee) -> Budget:
    return Budget.objects.get(employee=employee, fiscal_year=2026)


def level_entries(employee):
    return LedgerEntry.objects.filter(budget__employee=employee, kind=EntryKind.LEVEL_CHANGE)


def test_automatic_up_posts_the_prorated_difference_audited():
    # given the automatic policy and an engineer allocated mid's 100,000 for the year
    policy(LevelChangePolicy.AUTOMATIC)
    hr = hr_user()
    engineer = allocated()
    # when HR moves them to senior from June 15
    outcome = employee_level_change(
        employee=engineer,
        new_level=level("senior"),
        effective=date(2026, 6, 15),
        acting_user=hr,
        source="admin",
    )
    # then 50,000 × 200/365 is posted as a level change, by HR, and the level is senior
    entry = level_entries(engineer).get()
    assert entry.amount_micros == UP_FROM_JUNE and entry.acting_user == hr
    assert "mid → senior" in entry.memo
    assert budget_of(engineer).allocated_micros == 100_000 * K + UP_FROM_JUNE
    assert outcome.posted and outcome.amount_micros == UP_FROM_JUNE
    assert outcome.sentence == (
        "Level mid → senior from 2026-06-15: +$27,397.26 in FY2026 posted (policy: automatic)."
    )
    engineer.refresh_from_db()
    assert engineer.level == level("senior")
    # and the history names who and from→to
    row, before = engineer.history.order_by("-history_id")[:2]
    assert row.history_user == hr
    assert row.history_change_reason == "Level mid → senior from 2026-06-15 (admin)"
    assert (before.level, row.level) == (level("mid"), level("senior"))


def test_the_same_change_twice_posts_once():
    policy(LevelChangePolicy.AUTOMATIC)
    engineer = allocated()
    for _ in range(2):
        outcome = employee_level_change(
            employee=engineer, new_level=level("senior"), acting_user=None, source="SCIM"
        )
    assert level_entries(engineer).count() == 1
    assert not outcome.posted and "already" in outcome.sentence
    assert engineer.history.filter(history_change_reason__startswith="Level").count() == 1


def test_automatic_down_takes_the_difference_back():
    policy(LevelChangePolicy.AUTOMATIC)
    engineer = allocated("senior")
    outcome = employee_level_change(
        employee=engineer,
        new_level=level("mid"),
        effective=date(2026, 6, 15),
        acting_user=None,
        source="import",
    )
    assert level_entries(engineer).get().amount_micros == -UP_FROM_JUNE
    assert budget_of(engineer).allocated_micros == 150_000 * K - UP_FROM_JUNE
    assert "−$27,397.26" in outcome.sentence


def test_a_decrease_is_capped_at_what_is_unspent_and_says_so():
    # given a senior who has spent all but 10,000 of their 150,000
    price()
    policy(LevelChangePolicy.AUTOMATIC)
    engineer = allocated("senior", user__email="spender@example.com")
    spend(engineer, "e-1", 70_000)
    spend(engineer, "e-2", 70_000)
    # when they move down a level (27,397.26 to take back)
    outcome = employee_level_change(
        employee=engineer, new_level=level("mid"), acting_user=None, source="admin"
    )
    # then only the 10,000 left is taken, and the sentence says it was capped
    budget = budget_of(engineer)
    assert level_entries(engineer).get().amount_micros == -10_000 * K
    assert budget.allocated_micros == budget.spent_micros == 140_000 * K
    assert outcome.amount_micros == -10_000 * K
    assert "capped at $10,000.00" in outcome.sentence


def test_through_approval_asks_and_the_approval_posts_once():
    # given the approval policy (the default)
    finance = UserFactory(username="fin@example.com")
    finance.groups.add(Group.objects.get(name=FINANCE))
    hr = hr_user()
    engineer = allocated()
    assert CompanySettings.objects.get_or_create(pk=1)[0].level_change_policy == "approval"
    # when HR moves the engineer up
    outcome = employee_level_change(
        employee=engineer,
        new_level=level("senior"),
        effective=date(2026, 6, 15),
        acting_user=hr,
        source="admin",
    )
    # then the level is senior at once, nothing is posted yet and a request waits
    request = ApprovalRequest.objects.get(pk=outcome.request_id)
    assert request.kind == RequestKind.LEVEL_CHANGE and request.state == RequestState.IN_REVIEW
    assert request.amount_micros == UP_FROM_JUNE and request.employee == engineer
    assert [step.role for step in request.steps.order_by("index")] == ["manager", "finance"]
    assert not level_entries(engineer).exists() and not outcome.posted
    assert "asked for, request #" in outcome.sentence
    # when the manager and finance approve (finance twice: a double click)
    request_decide(request=request, user=engineer.manager.user, approve=True)
    request.refresh_from_db()
    request_decide(request=request, user=finance, approve=True)
    request.refresh_from_db()
    with contextlib.suppress(AllotError):  # refused as decided: either way nothing more posts
        request_decide(request=request, user=finance, approve=True)
    # then the same prorated difference is posted once, under the request's key
    entry = level_entries(engineer).get()
    assert entry.amount_micros == UP_FROM_JUNE and entry.acting_user == finance
    assert entry.idempotency_key == approval_request_key(request.pk)
    assert request.state == RequestState.APPROVED
    assert request.details["posted_micros"] == UP_FROM_JUNE


def test_a_decrease_through_approval_is_capped_when_it_is_approved():
    price()
    finance = UserFactory(username="fin2@example.com")
    finance.groups.add(Group.objects.get(name=FINANCE))
    engineer = allocated("senior", user__email="later@example.com")
    outcome = employee_level_change(
        employee=engineer, new_level=level("mid"), acting_user=hr_user(), source="admin"
    )
    request = ApprovalRequest.objects.get(pk=outcome.request_id)
    assert str(request).endswith(": −$27,397.26")
    # spending meanwhile leaves 5,000 unspent
    spend(engineer, "e-2", 72_500)
    spend(engineer, "e-3", 72_500)
    for step in request.steps.order_by("index"):
        request_decide(request=request, user=step.approver or finance, approve=True)
    assert level_entries(engineer).get().amount_micros == -5_000 * K


def test_next_year_only_posts_nothing_and_next_year_allocates_the_new_level():
    policy(LevelChangePolicy.NEXT_YEAR)
    engineer = allocated()
    outcome = employee_level_change(
        employee=engineer, new_level=level("senior"), acting_user=None, source="SCIM"
    )
    assert not level_entries(engineer).exists() and not ApprovalRequest.objects.exists()
    assert outcome.sentence == (
        f"Level mid → senior from {date(2026, 6, 15)}: nothing this year, later years start "
        "from $150,000.00 a year (policy: next year only)."
    )
    # the year-end rollover allocates FY2027 from the new level
    finance = UserFactory(username="fin-rollover@example.com")
    finance.groups.add(Group.objects.get(name=FINANCE))
    with time_machine.travel(datetime(2027, 1, 5, 12, tzinfo=UTC), tick=False):
        run = rollover_preview(fiscal_year=2026, acting_user=finance)
        rollover_execute(run=rollover_confirm(run=run, acting_user=finance, enqueue=False))
    next_year = Budget.objects.get(employee=engineer, fiscal_year=2027)
    allocation = LedgerEntry.objects.get(budget=next_year, kind=EntryKind.ALLOCATION)
    assert allocation.amount_micros == 150_000 * K


@pytest.mark.parametrize(
    ("effective", "posted"),
    [
        (date(2026, 1, 1), 50_000 * K),  # from the first day: the whole difference
        (date(2026, 12, 31), 136_986_301),  # the last day: one day of 365
        (date(2027, 1, 1), 0),  # the next fiscal year: its allocation uses the new level
    ],
)
def test_the_share_is_prorated_across_the_fiscal_year(effective, posted):
    policy(LevelChangePolicy.AUTOMATIC)
    engineer = allocated()
    outcome = employee_level_change(
        employee=engineer,
        new_level=level("senior"),
        effective=effective,
        acting_user=None,
        source="t",
    )
    assert sum(e.amount_micros for e in level_entries(engineer)) == posted
    assert outcome.amount_micros == posted
    if not posted:
        assert "applies from FY2027" in outcome.sentence


def test_a_day_before_this_fiscal_year_is_refused_on_its_field():
    engineer = allocated()
    with pytest.raises(AllotError) as refused:
        employee_level_change(
            employee=engineer,
            new_level=level("senior"),
            effective=date(2025, 12, 31),
            acting_user=None,
            source="t",
        )
    assert refused.value.field == "level_effective_from"
    engineer.refresh_from_db()
    assert engineer.level == level("mid")


def test_an_agreed_annual_budget_moves_by_the_difference_of_the_bands():
    policy(LevelChangePolicy.AUTOMATIC)
    engineer = EmployeeFactory(annual_budget_micros=120_000 * K)
    employee_allocate_from_level(employee=engineer, fiscal_year=2026, acting_user=None)
    employee_level_change(
        employee=engineer, new_level=level("senior"), acting_user=None, source="t"
    )
    engineer.refresh_from_db()
    assert engineer.annual_budget_micros == 170_000 * K
    assert level_entries(engineer).get().amount_micros == UP_FROM_JUNE


def test_before_this_year_is_allocated_nothing_is_posted_the_allocation_uses_the_new_level():
    policy(LevelChangePolicy.AUTOMATIC)
    engineer = EmployeeFactory()
    budget, _ = budget_create(fiscal_year=2026, employee=engineer)
    budget_allocate(budget=budget, amount_micros=5 * K, acting_user=None)  # a one-off, not it
    outcome = employee_level_change(
        employee=engineer, new_level=level("senior"), acting_user=None, source="t"
    )
    assert not level_entries(engineer).exists()
    assert "allocation is not made yet" in outcome.sentence
    entry, _ = employee_allocate_from_level(employee=engineer, fiscal_year=2026, acting_user=None)
    assert entry.amount_micros == 150_000 * K


def test_the_preview_says_what_it_would_post_and_writes_nothing():
    policy(LevelChangePolicy.AUTOMATIC)
    engineer = allocated()
    preview = employee_level_change_preview(
        employee=engineer, new_level=level("senior"), effective=date(2026, 6, 15)
    )
    assert preview.sentence == (
        "Level mid → senior from 2026-06-15: +$27,397.26 in FY2026 (policy: automatic)."
    )
    engineer.refresh_from_db()
    assert engineer.level == level("mid") and not level_entries(engineer).exists()
    assert employee_level_change_preview(employee=engineer, new_level=level("mid")) is None
