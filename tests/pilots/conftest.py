"""A pilot of five and a control cohort of five, with hand-made spend and Claude Code days:
before (May 22–31) and during (June 1–10) a pilot that ended on June 10."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from budgets.usage import usage_post
from connectors.models import ClaudeCodeDay, Provider, ProviderConnection
from pilots.models import ControlKind, PilotCohort, PilotMembership
from tests.factories import EmployeeFactory

K = 10**6
START, END, TODAY = date(2026, 6, 1), date(2026, 6, 10), date(2026, 7, 1)
BEFORE_DAY, DURING_DAY = date(2026, 5, 25), date(2026, 6, 5)


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=timezone.get_default_timezone())


def spend(employee, day: date, dollars: str, event_id: str) -> None:
    usage_post(
        employee=employee,
        event_id=event_id,
        model_name="m",
        occurred_at=noon(day),
        input_tokens=100,
        output_tokens=10,
        cost_micros=int(Decimal(dollars) * K),
    )


def claude_days(employee, day: date, pull_requests: int) -> None:
    connection, _ = ProviderConnection.objects.get_or_create(
        provider=Provider.ANTHROPIC,
        defaults={"admin_key_env": "ALLOT_ANTHROPIC_ADMIN_KEY", "start_on": date(2026, 1, 1)},
    )
    ClaudeCodeDay.objects.create(
        connection=connection,
        day=day,
        email=employee.user.email,
        employee=employee,
        pull_requests=pull_requests,
        commits=pull_requests * 2,
    )


def cohort(name: str, people, **fields) -> PilotCohort:
    made = PilotCohort.objects.create(name=name, start=START, end=END, **fields)
    PilotMembership.objects.bulk_create(PilotMembership(cohort=made, employee=p) for p in people)
    return made


@pytest.fixture
def pilot_and_control(db):
    """Pilot: $10 before and $20 during each, 2 then 5 pull requests each. Control: $8 and
    $12 each, 2 then 3 pull requests each. One event and one day outside both windows each."""
    pilot_people = [EmployeeFactory() for _ in range(5)]
    control_people = [EmployeeFactory() for _ in range(5)]
    for n, person in enumerate(pilot_people):
        spend(person, BEFORE_DAY, "10", f"p-before-{n}")
        spend(person, DURING_DAY, "20", f"p-during-{n}")
        spend(person, START - timedelta(days=40), "999", f"p-long-before-{n}")
        claude_days(person, BEFORE_DAY, 2)
        claude_days(person, DURING_DAY, 5)
        claude_days(person, END + timedelta(days=3), 50)  # after the pilot's end: not counted
    for n, person in enumerate(control_people):
        spend(person, BEFORE_DAY, "8", f"c-before-{n}")
        spend(person, DURING_DAY, "12", f"c-during-{n}")
        claude_days(person, BEFORE_DAY, 2)
        claude_days(person, DURING_DAY, 3)
    control = cohort("Control cohort", control_people)
    pilot = cohort("Agents", pilot_people, control_kind=ControlKind.COHORT, control_cohort=control)
    return {
        "pilot": pilot,
        "control": control,
        "pilot_people": pilot_people,
        "control_people": control_people,
    }
