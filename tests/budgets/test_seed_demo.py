from datetime import date
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Sum

from budgets.demo import demo_build
from budgets.models import Budget, EntryKind, LedgerEntry, UsageEvent
from common.fiscal import fiscal_year_period
from people.models import Employee

pytestmark = pytest.mark.django_db
TODAY = "2026-11-29"


def snapshot() -> dict:
    """Everything seed_demo wrote, by natural keys (ids differ between runs)."""
    return {
        "employees": sorted(
            Employee.objects.values_list(
                "user__email",
                "level__name",
                "team__name",
                "manager__user__email",
                "hire_date",
            )
        ),
        "budgets": sorted(
            Budget.objects.values_list(
                "employee__user__email",
                "team__name",
                "project__code",
                "fiscal_year",
                "allocated_micros",
                "spent_micros",
            ),
            key=str,
        ),
        "events": sorted(
            UsageEvent.objects.values_list(
                "event_id",
                "employee__user__email",
                "model_name",
                "input_tokens",
                "cost_micros",
                "occurred_at",
                "category",
                "project__code",
                "budget__employee__user__email",
            )
        ),
    }


def seed_and_snapshot(**options) -> dict:
    with transaction.atomic():
        call_command("seed_demo", today=TODAY, stdout=StringIO(), **options)
        taken = snapshot()
        transaction.set_rollback(True)
    return taken


def test_seed_demo_is_deterministic_for_a_given_seed():
    first = seed_and_snapshot(employees=12, events_per_employee=15, seed=7)
    second = seed_and_snapshot(employees=12, events_per_employee=15, seed=7)
    other = seed_and_snapshot(employees=12, events_per_employee=15, seed=8)

    assert first == second
    assert len(first["events"]) == 14 * 15  # 12 generated + manager@ and engineer@
    assert first["events"] != other["events"]


def test_the_pure_build_is_deterministic_too():
    args = {"employees": 30, "events_per_employee": 10, "today": date(2026, 11, 29)}
    period = fiscal_year_period(2026, 1)
    assert demo_build(seed=1, period=period, **args) == demo_build(seed=1, period=period, **args)


def test_seeded_budgets_equal_the_sum_of_their_entries_and_sign_ins_work():
    out = StringIO()
    call_command("seed_demo", employees=20, events_per_employee=20, today=TODAY, stdout=out)

    assert "Seeded FY2026" in out.getvalue() and "s (build" in out.getvalue()
    for budget in Budget.objects.all():
        entries = LedgerEntry.objects.filter(budget=budget)
        allocated = entries.exclude(kind=EntryKind.USAGE).aggregate(s=Sum("amount_micros"))["s"]
        spent = entries.filter(kind=EntryKind.USAGE).aggregate(s=Sum("amount_micros"))["s"]
        assert (budget.allocated_micros, budget.spent_micros) == (allocated or 0, spent or 0)
    for username in ["admin", "hr@example.com", "finance@example.com", "manager@example.com"]:
        assert authenticate(username=username, password="demo") is not None, username
    engineer = Employee.objects.get(user__email="engineer@example.com")
    assert engineer.manager.user.email == "manager@example.com"
    assert engineer.level.name == "mid"
    assert authenticate(username="employee00001@example.com", password="demo") is None
    assert UsageEvent.objects.filter(occurred_at__date__gt=TODAY).count() == 0


def test_seed_demo_refuses_a_database_that_has_people_unless_asked_to_skip():
    call_command("seed_demo", employees=3, events_per_employee=1, today=TODAY, stdout=StringIO())
    with pytest.raises(CommandError, match="already holds employees"):
        call_command("seed_demo", employees=3, stdout=StringIO())
    out = StringIO()
    call_command("seed_demo", if_empty=True, stdout=out)
    assert "nothing to do" in out.getvalue()


def test_seed_demo_never_runs_in_production_settings(settings):
    settings.ALLOT_DEMO_ENABLED = False
    with pytest.raises(CommandError, match="never made in production"):
        call_command("seed_demo", stdout=StringIO())
    assert not Employee.objects.exists()
