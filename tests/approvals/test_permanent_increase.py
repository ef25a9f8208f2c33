"""Issue 21 (1): a permanent increase changes the agreed annual budget from a day: this year's
share prorated at once, every later year's allocation from the new amount."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from threading import Barrier

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.db import close_old_connections, connection
from django.urls import reverse

from approvals.models import ApprovalRequest, RequestKind, RequestState
from approvals.services import request_decide, request_submit
from budgets.models import Budget, EntryKind, LedgerEntry
from budgets.rollover import rollover_confirm, rollover_execute, rollover_preview
from budgets.services import employee_allocate_from_level
from common.errors import AllotError
from people.models import Employee
from people.roles import FINANCE
from tests.factories import EmployeeFactory, UserFactory

K = 10**6
MID = 100_000 * K  # the mid level's default annual budget (people migration 0002)
JUNE = datetime(2026, 6, 15, 12, tzinfo=UTC)  # FY2026 runs 2026-01-01 to 2026-12-31


@pytest.fixture
def chain(db):
    with time_machine.travel(JUNE, tick=False):
        director = EmployeeFactory(user__email="director@example.com")
        manager = EmployeeFactory(user__email="manager@example.com", manager=director)
        engineer = EmployeeFactory(user__email="eng@example.com", manager=manager)
        finance = UserFactory(username="fin@example.com")
        finance.groups.add(Group.objects.get(name=FINANCE))
        yield {"director": director, "manager": manager, "engineer": engineer, "finance": finance}


def ask(chain, dollars, effective_from="2026-07-01", employee=None):
    return request_submit(
        kind=RequestKind.PERMANENT_INCREASE,
        requester=chain["engineer"].user,
        employee=employee or chain["engineer"],
        amount_micros=dollars * K,
        reason="moved to the platform team",
        details={"effective_from": effective_from},
    )


def approve_all(request, chain):
    for step in request.steps.order_by("index"):
        request_decide(request=request, user=step.approver or chain["finance"], approve=True)
    request.refresh_from_db()
    return request


def test_a_permanent_increase_has_its_own_stricter_chain(chain):
    # given the seeded rules, when the same amount is asked as a one-year and a permanent one
    one_year = request_submit(
        kind=RequestKind.INCREASE,
        requester=chain["engineer"].user,
        employee=chain["engineer"],
        amount_micros=5_000 * K,
        reason="a one-off",
    )
    permanent = ask(chain, 5_000)
    # then the permanent one also needs the skip-level (it recurs every year)
    assert [s.role for s in one_year.steps.all()] == ["manager"]
    assert [s.role for s in permanent.steps.order_by("index")] == ["manager", "skip_level"]
    bigger = ask(chain, 20_000)
    assert [s.role for s in bigger.steps.order_by("index")] == ["manager", "skip_level", "finance"]


def test_approved_it_prorates_this_year_and_sets_every_later_year(chain):
    engineer = chain["engineer"]
    with time_machine.travel(JUNE, tick=False):
        employee_allocate_from_level(employee=engineer, fiscal_year=2026, acting_user=None)
        request = approve_all(ask(chain, 1_200), chain)

    # this year: 1,200 x 184 days (Jul 1 to Jan 1) / 365, half-up
    assert request.state == RequestState.APPROVED
    entry = LedgerEntry.objects.get(kind=EntryKind.APPROVED_INCREASE)
    assert entry.amount_micros == 604_931_507
    assert entry.acting_user == chain["director"].user
    assert "from 2026-07-01" in entry.memo and f"request #{request.pk}" in entry.memo
    assert Budget.objects.get(employee=engineer, fiscal_year=2026).allocated_micros == (
        MID + 604_931_507
    )
    # the agreed amount changed, audited with who and why
    engineer.refresh_from_db()
    assert engineer.annual_budget_micros == MID + 1_200 * K
    change = engineer.history.first()
    assert change.history_user == chain["director"].user
    assert change.history_change_reason == f"Permanent increase, request #{request.pk}"
    assert request.details["annual_before_micros"] == MID
    assert request.details["annual_after_micros"] == MID + 1_200 * K
    # next year's allocation, by the rollover, starts from the new amount
    with time_machine.travel(datetime(2027, 1, 5, 12, tzinfo=UTC), tick=False):
        run = rollover_preview(fiscal_year=2026, acting_user=chain["finance"])
        rollover_execute(run=rollover_confirm(run=run, acting_user=chain["finance"], enqueue=False))
        again, created = employee_allocate_from_level(
            employee=engineer, fiscal_year=2027, acting_user=None
        )
    next_year = Budget.objects.get(employee=engineer, fiscal_year=2027)
    assert LedgerEntry.objects.get(budget=next_year, kind=EntryKind.ALLOCATION).amount_micros == (
        101_200 * K
    )
    assert again.amount_micros == 101_200 * K and not created  # once a year, by either path


def test_someone_hired_after_the_day_gets_the_share_from_their_hire_date(chain):
    newcomer = EmployeeFactory(manager=chain["manager"], hire_date=date(2026, 10, 1))
    with time_machine.travel(JUNE.replace(month=10, day=5), tick=False):
        approve_all(ask(chain, 3_650, effective_from="2026-07-01", employee=newcomer), chain)
    # Oct 1 to Jan 1 is 92 days: 3,650 x 92 / 365 = 920
    assert LedgerEntry.objects.get(kind=EntryKind.APPROVED_INCREASE).amount_micros == 920 * K


def test_from_the_first_day_of_next_year_it_changes_only_the_years_to_come(chain):
    with time_machine.travel(JUNE, tick=False):
        approve_all(ask(chain, 1_000, effective_from="2027-01-01"), chain)
    assert not LedgerEntry.objects.filter(kind=EntryKind.APPROVED_INCREASE).exists()
    assert Employee.objects.get(pk=chain["engineer"].pk).annual_budget_micros == MID + 1_000 * K


@pytest.mark.parametrize("day", [None, "", "soon", "2025-12-31", "2027-01-02"])
def test_a_missing_or_out_of_year_day_is_refused_on_its_field(chain, day):
    with time_machine.travel(JUNE, tick=False), pytest.raises(AllotError) as refused:
        ask(chain, 1_000, effective_from=day)
    assert refused.value.field == "effective_from"
    assert not ApprovalRequest.objects.exists()


def test_the_form_asks_for_the_day_and_the_page_says_it_is_permanent(client, chain):
    client.force_login(chain["manager"].user)
    page = client.get(reverse("approvals:requests")).content.decode()
    assert "Permanent increase (agreed annual budget)" in page
    assert "Budget increase (this fiscal year only)" in page and 'name="effective_from"' in page
    form = {
        "kind": "permanent_increase",
        "employee": chain["engineer"].pk,
        "amount": "2400",
        "reason": "promotion to lead",
    }
    with time_machine.travel(JUNE, tick=False):
        missing = client.post(reverse("approvals:requests"), form)
        assert missing.status_code == 200
        assert "Give the day the new annual budget applies from." in missing.content.decode()
        outside = client.post(
            reverse("approvals:requests"), {**form, "effective_from": "2028-03-01"}
        )
        assert "applies from a day in FY2026" in outside.content.decode()
        assert not ApprovalRequest.objects.exists()
        created = client.post(
            reverse("approvals:requests"), {**form, "effective_from": "2026-09-01"}
        )
    request = ApprovalRequest.objects.get()
    assert created.status_code == 302
    assert request.kind == RequestKind.PERMANENT_INCREASE
    assert request.employee == chain["engineer"] and request.details["effective_from"] == (
        "2026-09-01"
    )
    detail = client.get(request.get_absolute_url()).content.decode()
    assert "Permanent: the agreed annual budget goes up by $2,400.00 from 2026-09-01" in detail


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs concurrent PostgreSQL sessions"
)
def test_two_permanent_increases_approved_at_once_both_add_up(chain):
    with time_machine.travel(JUNE, tick=False):
        first, second = ask(chain, 1_000), ask(chain, 2_000)
        for request in (first, second):  # the manager's step; the director decides both at once
            request_decide(request=request, user=chain["manager"].user, approve=True)
    barrier = Barrier(2)

    def decide(request):
        barrier.wait()
        try:
            with time_machine.travel(JUNE, tick=False):
                return request_decide(
                    request=request, user=chain["director"].user, approve=True
                ).state
        finally:
            close_old_connections()
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(decide, [first, second]))

    assert outcomes == [RequestState.APPROVED, RequestState.APPROVED]
    assert Employee.objects.get(pk=chain["engineer"].pk).annual_budget_micros == MID + 3_000 * K
    # 184 / 365 of each, posted once each
    shares = sorted(
        LedgerEntry.objects.filter(kind=EntryKind.APPROVED_INCREASE).values_list(
            "amount_micros", flat=True
        )
    )
    assert shares == [504_109_589, 1_008_219_178]
