"""The replays the every-writer invariant test found changing a budget (issue 21's note), shrunk.

A hold whose time was up but that no beat had released yet was still held when the year closed:
the close left its money out of the split, and the next run of the beat released and forfeited
it (allocated $0.01 and a $0.01 hold, then 0 and 0). The carryover's expiry, likewise, let such a
hold keep carried money from expiring. And authorize held money for someone who had left, when
the caller's instance of them was read before they left, so closing the leaver again released it.
"""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from budgets.authorize import authorize
from budgets.models import (
    Budget,
    Enforcement,
    EntryKind,
    LedgerEntry,
    Reservation,
    ReservationState,
)
from budgets.rollover import rollover_confirm, rollover_execute, rollover_preview
from budgets.services import budget_allocate, budget_create, employee_allocate_from_level
from budgets.tasks import carryover_expire, reservations_release
from people.models import Employee
from people.services import employee_deactivate
from tests.budgets.test_ledger import assert_totals_match_entries
from tests.factories import EmployeeFactory, ProjectFactory, carry_half

pytestmark = pytest.mark.django_db
CENT = 10_000
HUNDRED = 100 * 10**6
HELD_AT = datetime(2026, 11, 2, 15, tzinfo=UTC)  # a 15-minute hold in FY2026
NEW_YEAR = datetime(2027, 1, 4, 15, tzinfo=UTC)


@pytest.fixture
def engineer():
    carry_half()
    employee = EmployeeFactory(annual_budget_micros=HUNDRED)
    employee_allocate_from_level(employee=employee, fiscal_year=2026, acting_user=None)
    return employee


def hold(employee, at: datetime, request_id: str = "call", micros: int = CENT):
    with time_machine.travel(at, tick=False):
        result = authorize(
            employee=employee,
            estimated_cost_micros=micros,
            reserve=True,
            source="gateway",
            request_id=request_id,
        )
    assert result.reservation is not None
    return result.reservation


def close_fy2026():
    run = rollover_preview(fiscal_year=2026, acting_user=None)
    rollover_execute(run=rollover_confirm(run=run, acting_user=None, enqueue=False))


def budget_state() -> list[tuple]:
    budgets = Budget.objects.order_by("pk").values_list(
        "pk", "allocated_micros", "reserved_micros", "carried_over_micros"
    )
    holds = Reservation.objects.order_by("pk").values_list("pk", "state")
    return [*budgets, *holds, LedgerEntry.objects.count()]


def test_a_hold_past_its_time_at_the_close_is_split_by_the_close_not_forfeited_by_the_beat_after(
    engineer,
):
    # given a 15-minute hold of a cent on FY2026 that no beat released before the close
    held = hold(engineer, HELD_AT)
    with time_machine.travel(NEW_YEAR, tick=False):
        # when finance closes FY2026
        close_fy2026()
        closed = Budget.objects.get(employee=engineer, fiscal_year=2026)
        new = Budget.objects.get(employee=engineer, fiscal_year=2027)
        # then the close gave the hold back first and split all $100 (half carried)
        assert Reservation.objects.get(pk=held.pk).state == ReservationState.EXPIRED
        assert (closed.allocated_micros, closed.reserved_micros) == (0, 0)
        assert new.carried_over_micros == HUNDRED // 2
        assert not closed.entries.filter(idempotency_key__startswith="hold-forfeiture:").exists()
        # and the beat's next run finds nothing to do and moves nothing
        before = budget_state()
        assert reservations_release() == 0
        assert budget_state() == before
    assert_totals_match_entries(closed)
    assert_totals_match_entries(new)


def test_carried_money_held_by_a_hold_past_its_time_expires_on_the_day(engineer):
    # given FY2026 closed ($100 allocated and $50 carried into a hard FY2027 budget, the carried
    # money expiring on 2027-04-01) and a 15-minute hold of $120 in January that no beat released
    with time_machine.travel(NEW_YEAR, tick=False):
        close_fy2026()
    new = Budget.objects.get(employee=engineer, fiscal_year=2027)
    Budget.objects.filter(pk=new.pk).update(enforcement=Enforcement.HARD)
    january = NEW_YEAR + timedelta(hours=1)
    held = hold(engineer, january, request_id="january", micros=120 * HUNDRED // 100)
    with time_machine.travel(datetime(2027, 4, 1, 15, tzinfo=UTC), tick=False):
        # when the carryover's expiry runs on its day
        carryover_expire()
        # then the hold was given back first (a hold past its time is no call in flight), and
        # all $50 carried, unspent, expired at once
        new.refresh_from_db()
        assert Reservation.objects.get(pk=held.pk).state == ReservationState.EXPIRED
        assert new.entries.get(kind=EntryKind.EXPIRY).amount_micros == -HUNDRED // 2
        assert (new.reserved_micros, new.carryover_expired_on) == (0, date(2027, 4, 1))
        # and the beat, and the expiry again, then move nothing
        before = budget_state()
        reservations_release()
        carryover_expire()
        assert budget_state() == before
    assert_totals_match_entries(new)


def test_a_hold_asked_with_an_instance_read_before_the_person_left_is_refused(engineer):
    # given an engineer on a project with money, whose instance a caller read before they left
    project = ProjectFactory()
    project.members.add(engineer)
    on_project, _ = budget_create(fiscal_year=2026, project=project)
    budget_allocate(budget=on_project, amount_micros=HUNDRED, acting_user=None)
    stale = Employee.objects.get(pk=engineer.pk)
    with time_machine.travel(HELD_AT, tick=False):
        employee_deactivate(employee=Employee.objects.get(pk=engineer.pk), acting_user=None)
        # when the caller asks for a hold with it
        result = authorize(
            employee=stale,
            estimated_cost_micros=CENT,
            project=project,
            reserve=True,
            source="gateway",
            request_id="after-leaving",
        )
        # then it is refused and nothing is held
        assert not result.allowed
        assert result.reason == f"{stale} is not an active employee."
        assert not Reservation.objects.exists()
        # and closing the leaver again (a second click, SCIM's DELETE after active: false)
        # moves nothing
        before = budget_state()
        employee_deactivate(employee=Employee.objects.get(pk=engineer.pk), acting_user=None)
        assert budget_state() == before
