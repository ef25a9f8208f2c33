"""HR's pilot admin: its rules said on the form (nobody in both a pilot and its control; end
after start), overlapping pilots allowed but said; finance reads only."""

from datetime import timedelta

import pytest
from django.urls import reverse

from pilots.models import ControlKind, PilotCohort
from pilots.services import pilot_control_overlap, pilot_overlaps
from tests.factories import EmployeeFactory, finance_user, hr_user
from tests.pilots.conftest import END, START, cohort

pytestmark = pytest.mark.django_db


def form(cohort_fields: dict, employees: list, *, existing: int = 0) -> dict:
    data = {
        "name": "Agents",
        "description": "",
        "start": START.isoformat(),
        "end": END.isoformat(),
        "status": "running",
        "metric": "claude_code_pull_requests",
        "control_kind": ControlKind.EVERYONE_ELSE,
        "control_cohort": "",
        "control_department": "",
        "memberships-TOTAL_FORMS": str(len(employees)),
        "memberships-INITIAL_FORMS": str(existing),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        **cohort_fields,
    }
    for n, employee in enumerate(employees):
        data[f"memberships-{n}-employee"] = str(employee.pk)
        data[f"memberships-{n}-joined_on"] = ""
        data[f"memberships-{n}-left_on"] = ""
    return data


def test_hr_adds_a_pilot_with_members(client):
    client.force_login(hr_user())
    people = [EmployeeFactory() for _ in range(2)]
    answer = client.post(reverse("admin:pilots_pilotcohort_add"), form({}, people))
    assert answer.status_code == 302
    assert set(PilotCohort.objects.get(name="Agents").members.all()) == set(people)


def test_a_person_in_the_pilot_and_its_control_is_refused_by_name(client):
    both = EmployeeFactory(user__first_name="Ada", user__last_name="Both")
    control = cohort("Control", [both])
    client.force_login(hr_user())
    answer = client.post(
        reverse("admin:pilots_pilotcohort_add"),
        form({"control_kind": ControlKind.COHORT, "control_cohort": str(control.pk)}, [both]),
    )
    assert answer.status_code == 200
    assert "cannot be in both a pilot and its control group: Ada Both (in Control)" in (
        answer.content.decode()
    )
    assert not PilotCohort.objects.filter(name="Agents").exists()


def test_the_end_must_follow_the_start(client):
    client.force_login(hr_user())
    answer = client.post(
        reverse("admin:pilots_pilotcohort_add"),
        form({"end": (START - timedelta(days=1)).isoformat()}, []),
    )
    assert answer.status_code == 200
    assert "The pilot must end on or after its first day." in answer.content.decode()


def test_a_cohort_control_needs_its_cohort(client):
    client.force_login(hr_user())
    answer = client.post(
        reverse("admin:pilots_pilotcohort_add"), form({"control_kind": ControlKind.COHORT}, [])
    )
    assert "Choose the cohort to compare with." in answer.content.decode()


def test_overlapping_pilots_are_allowed_and_said(client):
    shared = EmployeeFactory()
    first = cohort("First", [shared])
    client.force_login(hr_user())
    answer = client.post(reverse("admin:pilots_pilotcohort_add"), form({}, [shared]), follow=True)
    assert "also in pilots whose dates overlap this one&#x27;s" in answer.content.decode()
    second = PilotCohort.objects.get(name="Agents")
    assert pilot_overlaps(cohort=second) == [first.name]
    # a pilot after the first one ended overlaps nothing
    second.start = END + timedelta(days=1)
    second.end = None
    assert pilot_overlaps(cohort=second) == []


def test_the_control_cohort_cannot_take_in_the_pilots_members():
    member = EmployeeFactory()
    control = cohort("Control", [])
    cohort("Pilot", [member], control_kind=ControlKind.COHORT, control_cohort=control)
    # editing the control cohort: the pilot that uses it is checked too
    assert pilot_control_overlap(cohort=control, employee_ids=[member.pk]) == [
        f"{member.display_name} (in Pilot)"
    ]


def test_finance_reads_and_cannot_change(client):
    pilot = cohort("Read me", [EmployeeFactory()])
    client.force_login(finance_user())
    change = reverse("admin:pilots_pilotcohort_change", args=[pilot.pk])
    assert client.get(change).status_code == 200
    assert client.get(reverse("admin:pilots_pilotcohort_add")).status_code == 403
    client.post(change, form({"name": "Renamed"}, []))
    pilot.refresh_from_db()
    assert pilot.name == "Read me"
