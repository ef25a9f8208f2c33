"""The ledger invariant: a budget's stored totals equal the sum of its entries, exactly."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from budgets.models import (
    Budget,
    EntryKind,
    LedgerEntry,
    LedgerImmutableError,
    ReservationState,
    TokenPrice,
)
from budgets.services import (
    budget_adjust,
    budget_allocate,
    budget_create,
    budget_transfer,
)
from budgets.usage import usage_post
from common.errors import AllotError
from tests.factories import EmployeeFactory, ProjectFactory, TeamFactory

pytestmark = pytest.mark.django_db
WHEN = datetime(2026, 5, 4, 15, 30, tzinfo=UTC)


def assert_totals_match_entries(budget: Budget) -> None:
    """Allocated and spent are the sums of the budget's entries; reserved, of its open holds."""
    budget.refresh_from_db()
    allocated = (
        budget.entries.exclude(kind=EntryKind.USAGE).aggregate(total=Sum("amount_micros"))["total"]
        or 0
    )
    spent = (
        budget.entries.filter(kind=EntryKind.USAGE).aggregate(total=Sum("amount_micros"))["total"]
        or 0
    )
    held = budget.reservations.filter(state=ReservationState.HELD)
    reserved = held.aggregate(total=Sum("amount_micros"))["total"] or 0
    assert budget.allocated_micros == allocated
    assert budget.spent_micros == spent
    assert budget.reserved_micros == reserved
    assert budget.remaining_micros == allocated - spent - reserved


amounts = st.integers(min_value=1, max_value=10**12)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("allocate"), st.integers(0, 1), amounts),
        st.tuples(st.just("adjust"), st.integers(0, 1), st.integers(-(10**12), 10**12)),
        st.tuples(st.just("usage"), st.integers(0, 1), st.integers(0, 10**11)),
        st.tuples(st.just("transfer"), st.integers(0, 1), amounts),
    ),
    max_size=25,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations)
def test_stored_totals_equal_the_sum_of_entries_for_any_sequence(ops):
    # given two budgets of one employee's year (personal and their team's pool)
    with transaction.atomic():
        employee = EmployeeFactory()
        personal, _ = budget_create(fiscal_year=2026, employee=employee)
        pool, _ = budget_create(fiscal_year=2026, team=employee.team)
        budgets = [personal, pool]
        refused = 0
        # when any sequence of allocations, adjustments, usage and transfers is applied
        for index, (operation, which, amount) in enumerate(ops):
            budget = budgets[which]
            try:
                if operation == "allocate":
                    budget_allocate(budget=budget, amount_micros=amount, acting_user=None)
                elif operation == "adjust":
                    budget_adjust(budget=budget, amount_micros=amount, acting_user=None, memo="fix")
                elif operation == "usage":
                    usage_post(
                        employee=employee,
                        event_id=f"e{index}",
                        model_name="m",
                        occurred_at=WHEN,
                        input_tokens=1,
                        output_tokens=1,
                        cost_micros=amount,
                    )
                else:
                    budget_transfer(
                        source=budget,
                        destination=budgets[1 - which],
                        amount_micros=amount,
                        acting_user=None,
                    )
            except AllotError:
                refused += 1  # a refused operation must leave no trace
        # then each budget's stored totals equal the sum of its entries, to the micro-dollar
        for budget in budgets:
            assert_totals_match_entries(budget)
            budget.refresh_from_db()
            assert budget.allocated_micros >= 0
        assert LedgerEntry.objects.filter(budget__in=budgets).count() <= len(ops) + sum(
            op == "transfer" for op, _, _ in ops
        )
        transaction.set_rollback(True)


def test_one_budget_per_owner_per_year_is_enforced_by_the_database():
    employee = EmployeeFactory()
    Budget.objects.create(employee=employee, fiscal_year=2026)
    with pytest.raises(IntegrityError), transaction.atomic():
        Budget.objects.create(employee=employee, fiscal_year=2026)
    Budget.objects.create(employee=employee, fiscal_year=2027)  # another year is fine


def test_team_and_project_budgets_are_unique_per_year_too():
    team, project = TeamFactory(), ProjectFactory()
    Budget.objects.create(team=team, fiscal_year=2026)
    Budget.objects.create(project=project, fiscal_year=2026)
    with pytest.raises(IntegrityError), transaction.atomic():
        Budget.objects.create(team=team, fiscal_year=2026)
    with pytest.raises(IntegrityError), transaction.atomic():
        Budget.objects.create(project=project, fiscal_year=2026)


def test_a_budget_has_exactly_one_owner_in_the_database():
    employee = EmployeeFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Budget.objects.create(employee=employee, team=employee.team, fiscal_year=2026)
    with pytest.raises(IntegrityError), transaction.atomic():
        Budget.objects.create(fiscal_year=2026)


def test_budget_create_returns_the_existing_budget_instead_of_a_second():
    employee = EmployeeFactory()
    first, created = budget_create(fiscal_year=2026, employee=employee)
    again, created_again = budget_create(fiscal_year=2026, employee=employee)
    assert created and not created_again and first.pk == again.pk


def test_ledger_entries_cannot_be_changed_or_deleted():
    budget, _ = budget_create(fiscal_year=2026, employee=EmployeeFactory())
    entry = budget_allocate(budget=budget, amount_micros=5_000_000, acting_user=None)

    entry.memo = "rewritten"
    with pytest.raises(LedgerImmutableError):
        entry.save()
    with pytest.raises(LedgerImmutableError):
        entry.delete()
    with pytest.raises(LedgerImmutableError):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount_micros=1)
    with pytest.raises(LedgerImmutableError):
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    entry.refresh_from_db()
    assert entry.amount_micros == 5_000_000 and entry.memo == ""


def test_replaying_an_allocation_with_its_key_posts_nothing_new():
    budget, _ = budget_create(fiscal_year=2026, employee=EmployeeFactory())
    first = budget_allocate(budget=budget, amount_micros=7, acting_user=None, idempotency_key="k1")
    again = budget_allocate(budget=budget, amount_micros=7, acting_user=None, idempotency_key="k1")

    assert first.pk == again.pk
    budget.refresh_from_db()
    assert budget.allocated_micros == 7
    with pytest.raises(AllotError, match="already used"):
        budget_allocate(budget=budget, amount_micros=8, acting_user=None, idempotency_key="k1")


def test_an_adjustment_never_takes_the_allocation_below_zero():
    budget, _ = budget_create(fiscal_year=2026, employee=EmployeeFactory())
    budget_allocate(budget=budget, amount_micros=100, acting_user=None)

    with pytest.raises(AllotError, match="more than it has left"):
        budget_adjust(budget=budget, amount_micros=-101, acting_user=None, memo="too much")
    budget_adjust(budget=budget, amount_micros=-100, acting_user=None, memo="all of it")
    assert_totals_match_entries(budget)
    assert budget.allocated_micros == 0


def test_an_adjustment_needs_a_reason():
    budget, _ = budget_create(fiscal_year=2026, employee=EmployeeFactory())
    with pytest.raises(AllotError, match="why"):
        budget_adjust(budget=budget, amount_micros=5, acting_user=None, memo="  ")


def test_a_transfer_moves_unspent_money_as_two_linked_entries():
    employee = EmployeeFactory()
    personal, _ = budget_create(fiscal_year=2026, employee=employee)
    pool, _ = budget_create(fiscal_year=2026, team=employee.team)
    budget_allocate(budget=pool, amount_micros=1_000, acting_user=None)

    out_entry, in_entry = budget_transfer(
        source=pool, destination=personal, amount_micros=400, acting_user=None, idempotency_key="t"
    )
    replay = budget_transfer(
        source=pool, destination=personal, amount_micros=400, acting_user=None, idempotency_key="t"
    )

    assert replay == (out_entry, in_entry)
    assert in_entry.counterpart == out_entry and out_entry.amount_micros == -400
    assert_totals_match_entries(pool)
    assert_totals_match_entries(personal)
    assert (pool.remaining_micros, personal.remaining_micros) == (600, 400)
    with pytest.raises(AllotError, match="more than it has left"):
        budget_transfer(source=pool, destination=personal, amount_micros=601, acting_user=None)


def test_a_transfer_cannot_move_money_already_spent():
    employee = EmployeeFactory()
    personal, _ = budget_create(fiscal_year=2026, employee=employee)
    pool, _ = budget_create(fiscal_year=2026, team=employee.team)
    budget_allocate(budget=personal, amount_micros=1_000, acting_user=None)
    usage_post(
        employee=employee,
        event_id="u",
        model_name="m",
        occurred_at=WHEN,
        input_tokens=1,
        output_tokens=1,
        cost_micros=900,
    )
    with pytest.raises(AllotError):
        budget_transfer(source=personal, destination=pool, amount_micros=101, acting_user=None)
    budget_transfer(source=personal, destination=pool, amount_micros=100, acting_user=None)
    assert_totals_match_entries(personal)


def test_usage_is_priced_from_the_price_in_force_when_it_happened():
    employee = EmployeeFactory()
    TokenPrice.objects.create(
        model_name="m",
        input_per_million_micros=2_000_000,
        output_per_million_micros=10_000_000,
        effective_from=datetime(2026, 1, 1, tzinfo=UTC),
    )
    TokenPrice.objects.create(
        model_name="m",
        input_per_million_micros=1_000_000,
        output_per_million_micros=5_000_000,
        effective_from=datetime(2026, 6, 1, tzinfo=UTC),
    )
    before, _ = usage_post(
        employee=employee,
        event_id="a",
        model_name="m",
        occurred_at=datetime(2026, 5, 31, 23, 59, tzinfo=UTC),
        input_tokens=1_000_000,
        output_tokens=1_000_000,
    )
    after, _ = usage_post(
        employee=employee,
        event_id="b",
        model_name="m",
        occurred_at=datetime(2026, 6, 1, tzinfo=UTC),
        input_tokens=1_000_000,
        output_tokens=1_000_000,
    )
    assert (before.cost_micros, after.cost_micros) == (12_000_000, 6_000_000)
    with pytest.raises(AllotError, match="'unknown-model'"):
        usage_post(
            employee=employee,
            event_id="c",
            model_name="unknown-model",
            occurred_at=WHEN,
            input_tokens=1,
            output_tokens=1,
        )


def test_replaying_a_usage_event_changes_nothing():
    employee = EmployeeFactory()
    kwargs = {
        "employee": employee,
        "event_id": "same",
        "model_name": "m",
        "occurred_at": WHEN,
        "input_tokens": 1,
        "output_tokens": 1,
        "cost_micros": 250,
    }
    first, created = usage_post(**kwargs)
    again, created_again = usage_post(**kwargs)
    assert created and not created_again and first.pk == again.pk
    assert LedgerEntry.objects.filter(kind=EntryKind.USAGE).count() == 1
    assert_totals_match_entries(first.budget)


def test_usage_draws_the_project_then_personal_then_the_team_pool():
    # given an employee on a project, with a personal budget and an overflowing team pool
    employee = EmployeeFactory(team=TeamFactory(has_pool=True, pool_overflow=True))
    project = ProjectFactory()
    project.members.add(employee)
    project_budget, _ = budget_create(fiscal_year=2026, project=project)
    personal, _ = budget_create(fiscal_year=2026, employee=employee)
    pool, _ = budget_create(fiscal_year=2026, team=employee.team)
    for budget, amount in ((project_budget, 100), (personal, 100), (pool, 100)):
        budget_allocate(budget=budget, amount_micros=amount, acting_user=None)

    def spend(event_id, cost, project=None):
        event, _ = usage_post(
            employee=employee,
            event_id=event_id,
            model_name="m",
            occurred_at=WHEN,
            input_tokens=1,
            output_tokens=1,
            cost_micros=cost,
            project=project,
        )
        return event.budget

    # when usage arrives, then each event is paid in the documented order
    assert spend("p1", 80, project) == project_budget
    assert spend("p2", 80, project) == personal  # the project has 20 left: personal pays
    assert spend("n1", 20) == personal
    assert spend("n2", 50) == pool  # personal is used up: the pool overflows
    assert spend("n3", 500) == personal  # nothing has room: personal pays, usage is never lost
    for budget in (project_budget, personal, pool):
        assert_totals_match_entries(budget)


@pytest.mark.django_db
def test_the_hot_tables_carry_no_index_nothing_reads():
    """Each index is paid for on every usage event and ledger entry written: the pattern-ops
    index Django adds beside a unique varchar (for LIKE 'x%', which nothing runs) is dropped by
    migration 0007 and must not come back."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("Django adds pattern-ops indexes on PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s) AND indexdef LIKE %s",
            [["budgets_ledgerentry", "budgets_usageevent"], "%pattern_ops%"],
        )
        assert cursor.fetchall() == []
