"""The demo's pilots (run by seed_demo through budgets.demo.extras): "Agent pilot", half of
Product Engineering against the other half, with six weeks of Claude Code days before and during
it (the pilot's pull requests rise), enough people to conclude; and "Review bot pilot", three
people against everyone else, which shows the honest "too small to conclude"."""

import random
from datetime import date, timedelta

from django.db import transaction

from connectors.models import ClaudeCodeDay, Provider, ProviderConnection
from people.models import Department, Employee
from pilots.models import ControlKind, PilotCohort, PilotMembership, PilotStatus

PILOT_DAYS = 42
DEMO_DEPARTMENT = "Product Engineering"
SMALL_DEPARTMENT = "Data"


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _claude_code_days(connection, people, days, *, start: date, boosted: set[int], rng):
    rows = []
    for employee in people:
        for day in days:
            if day.weekday() >= 5:
                continue
            lift = 2 if employee.pk in boosted and day >= start else 0
            pull_requests = rng.choice([0, 0, 1, 1, 2]) + rng.choice([0, lift])
            rows.append(
                ClaudeCodeDay(
                    connection=connection,
                    day=day,
                    email=employee.user.email,
                    employee=employee,
                    sessions=rng.randint(1, 6),
                    commits=pull_requests * 3 + rng.randint(0, 2),
                    pull_requests=pull_requests,
                    lines_added=rng.randint(20, 400),
                )
            )
    ClaudeCodeDay.objects.bulk_create(rows)
    return len(rows)


@transaction.atomic
def pilots_demo_seed(today: date) -> str:
    rng = random.Random(7)  # nosec B311  # noqa: S311 - demo data, reproducible on purpose
    start = today - timedelta(days=PILOT_DAYS - 1)
    before_start = start - timedelta(days=PILOT_DAYS)
    department = Department.objects.filter(name=DEMO_DEPARTMENT).first()
    eligible = Employee.objects.filter(is_active=True, hire_date__lte=before_start)
    engineering = list(
        eligible.filter(team__department=department).select_related("user").order_by("pk")
    )
    small = list(
        eligible.filter(team__department__name=SMALL_DEPARTMENT)
        .select_related("user")
        .order_by("pk")[:3]
    )
    if department is None or len(engineering) < 2:
        return "Pilots: too few people for the demo's pilots; none made."
    agent = PilotCohort.objects.create(
        name="Agent pilot",
        description="Half of Product Engineering works with coding agents; the other half "
        "does not.",
        start=start,
        status=PilotStatus.RUNNING,
        control_kind=ControlKind.DEPARTMENT,
        control_department=department,
    )
    members = engineering[::2]
    PilotMembership.objects.bulk_create(PilotMembership(cohort=agent, employee=e) for e in members)
    review = PilotCohort.objects.create(
        name="Review bot pilot",
        description="Three data engineers try an automated reviewer.",
        start=today - timedelta(days=20),
        status=PilotStatus.RUNNING,
    )
    PilotMembership.objects.bulk_create(PilotMembership(cohort=review, employee=e) for e in small)
    connection, _ = ProviderConnection.objects.get_or_create(
        provider=Provider.ANTHROPIC,
        defaults={
            "admin_key_env": "ALLOT_ANTHROPIC_ADMIN_KEY",
            "start_on": before_start,
            "is_active": False,
        },
    )
    days = _claude_code_days(
        connection,
        engineering + small,
        _days(before_start, today),
        start=start,
        boosted={e.pk for e in members},
        rng=rng,
    )
    return (
        f"Pilots: 'Agent pilot' ({len(members)} people against {len(engineering) - len(members)} "
        f"in {department.name}) and 'Review bot pilot' ({len(small)} people); {days:,} Claude "
        "Code days."
    )
