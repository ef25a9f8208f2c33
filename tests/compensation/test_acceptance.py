"""Acceptance: the user, the employee and the prorated budget in one transaction, once."""

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from threading import Barrier

import pytest
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection

from budgets.models import Budget, EntryKind, LedgerEntry
from budgets.services import employee_allocate_from_level
from common.errors import AllotError
from compensation.models import Offer, OfferState
from compensation.services import offer_accept
from people.models import CompanySettings, Employee
from people.roles import ENGINEERS
from tests.compensation.conftest import K
from tests.compensation.test_lifecycle import sent_offer
from tests.factories import UserFactory


def test_acceptance_creates_one_employee_and_one_prorated_budget(org):
    # given a fiscal year starting in April and a sent offer starting on 2026-10-01
    CompanySettings.objects.filter(pk=1).update(fiscal_year_start_month=4)
    offer = sent_offer(org, start_date=date(2026, 10, 1))
    employees_before, budgets_before = Employee.objects.count(), Budget.objects.count()
    # when HR marks it accepted
    employee = offer_accept(offer=offer, acting_user=org["hr"])
    # then one employee with the offer's level, team and manager, signing in as the candidate
    assert Employee.objects.count() == employees_before + 1
    assert (employee.level, employee.team, employee.manager) == (
        offer.level,
        offer.team,
        org["manager"],
    )
    assert employee.hire_date == date(2026, 10, 1)
    assert employee.user.email == "ada@example.com" and not employee.user.has_usable_password()
    assert employee.user.groups.filter(name=ENGINEERS).exists()
    # and one FY2026 budget holding 182/365 of $150,000, allocated by an entry the offer points at
    assert Budget.objects.count() == budgets_before + 1
    budget = Budget.objects.get(employee=employee)
    assert (budget.fiscal_year, budget.allocated_micros) == (2026, 74_794_520_548)
    offer.refresh_from_db()
    assert offer.state == OfferState.ACCEPTED and offer.employee == employee
    entry = offer.allocation_entry
    assert (entry.budget, entry.kind, entry.amount_micros) == (
        budget,
        EntryKind.ALLOCATION,
        74_794_520_548,
    )
    assert f"offer #{offer.pk}" in entry.memo and entry.acting_user == org["hr"]
    assert budget.allocated_micros == sum(e.amount_micros for e in budget.entries.all())


def test_a_second_acceptance_is_refused_and_changes_nothing(org):
    offer = sent_offer(org)
    offer_accept(offer=offer, acting_user=org["hr"])
    counts = (Employee.objects.count(), Budget.objects.count(), LedgerEntry.objects.count())
    with pytest.raises(AllotError, match="already accepted"):
        offer_accept(offer=Offer.objects.get(pk=offer.pk), acting_user=org["hr"])
    with pytest.raises(AllotError, match="already accepted"):
        offer_accept(offer=offer, acting_user=org["hr"])  # a stale copy, as from a second tab
    assert (Employee.objects.count(), Budget.objects.count(), LedgerEntry.objects.count()) == counts


def test_the_level_allocation_later_in_the_year_adds_nothing(org):
    offer = sent_offer(org, start_date=date(2026, 7, 1))
    employee = offer_accept(offer=offer, acting_user=org["hr"])
    entry, created = employee_allocate_from_level(
        employee=employee, fiscal_year=2026, acting_user=None
    )
    assert not created and entry.pk == Offer.objects.get(pk=offer.pk).allocation_entry_id
    assert Budget.objects.get(employee=employee).entries.count() == 1


def test_acceptance_is_atomic_when_something_fails(org):
    # given someone already signs in with the candidate's email
    offer = sent_offer(org)
    UserFactory(username="someone", email="ADA@example.com")
    counts = (Employee.objects.count(), Budget.objects.count(), LedgerEntry.objects.count())
    users = get_user_model().objects.count()
    # when HR marks the offer accepted
    with pytest.raises(AllotError, match="already signs in as ada@example.com"):
        offer_accept(offer=offer, acting_user=org["hr"])
    # then nothing was made and the offer is still sent
    assert (Employee.objects.count(), Budget.objects.count(), LedgerEntry.objects.count()) == counts
    assert get_user_model().objects.count() == users
    assert Offer.objects.get(pk=offer.pk).state == OfferState.SENT


def test_the_traded_token_budget_is_what_gets_allocated(org):
    offer = sent_offer(
        org,
        start_date=date(2026, 1, 1),
        trade_direction="stock_to_tokens",
        trade_amount_micros=20_000 * K,
    )
    employee = offer_accept(offer=offer, acting_user=org["hr"])
    assert Budget.objects.get(employee=employee).allocated_micros == 170_000 * K


def test_a_failure_after_the_user_and_employee_are_made_rolls_everything_back(org):
    # given an offer whose token budget was traded away entirely: nothing to allocate
    offer = sent_offer(org, trade_direction="tokens_to_stock", trade_amount_micros=150_000 * K)
    counts = (Employee.objects.count(), Budget.objects.count(), LedgerEntry.objects.count())
    users = get_user_model().objects.count()
    # when acceptance fails at the allocation, after the user and employee rows were written
    with pytest.raises(AllotError, match="nothing to allocate"):
        offer_accept(offer=offer, acting_user=org["hr"])
    # then none of them is left behind
    assert (Employee.objects.count(), Budget.objects.count(), LedgerEntry.objects.count()) == counts
    assert get_user_model().objects.count() == users
    assert not get_user_model().objects.filter(email="ada@example.com").exists()
    assert Offer.objects.get(pk=offer.pk).state == OfferState.SENT


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs concurrent PostgreSQL sessions"
)
def test_two_people_accepting_at_once_make_one_employee(org):
    # given a sent offer and two HR tabs clicking "mark accepted" at the same moment
    offer = sent_offer(org)
    barrier = Barrier(2)

    def accept(_):
        barrier.wait()
        try:
            return offer_accept(offer=offer, acting_user=org["hr"]).pk
        except AllotError as error:
            return error.message
        finally:
            close_old_connections()
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(accept, [1, 2]))

    # then one made the employee and the other was told it was already accepted
    employee_ids = [o for o in outcomes if isinstance(o, int)]
    assert len(employee_ids) == 1, outcomes
    assert any("already accepted" in str(o) for o in outcomes)
    assert Employee.objects.filter(user__email="ada@example.com").count() == 1
    assert Budget.objects.filter(employee_id=employee_ids[0]).count() == 1
    assert LedgerEntry.objects.filter(budget__employee_id=employee_ids[0]).count() == 1


def test_a_project_impact_budget_makes_the_hire_a_project_member(org):
    from tests.factories import ProjectFactory

    project = ProjectFactory(name="Search rewrite")
    offer = sent_offer(org, allocation_basis="both", allocation_project=project)
    employee = offer_accept(offer=offer, acting_user=org["hr"])
    assert list(project.members.all()) == [employee]


def test_the_negotiated_budget_is_every_later_years_allocation_too(org):
    """Found by the final review: the agreed budget went into the first (prorated) year only;
    the next year's allocation fell back to the level's default."""
    from budgets.rollover import rollover_context, rollover_plans

    offer = sent_offer(org, start_date=date(2026, 7, 1), token_budget_micros=170_000 * K)
    employee = offer_accept(offer=offer, acting_user=org["hr"])

    plans = {
        (plan.kind, plan.owner_id): plan
        for plan in rollover_plans(rollover_context(fiscal_year=2026))
    }
    entry, created = employee_allocate_from_level(
        employee=employee, fiscal_year=2027, acting_user=None
    )

    assert employee.annual_budget_micros == offer.effective_token_budget_micros == 170_000 * K
    assert employee.level.default_annual_budget_micros == 150_000 * K
    assert plans[("employee", employee.pk)].allocation_micros == 170_000 * K
    assert created and entry.amount_micros == 170_000 * K
