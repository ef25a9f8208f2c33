"""The comparison against a table computed by hand (conftest's figures), and its honest notes."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError
from django.test import override_settings

from connectors.models import ClaudeCodeDay
from pilots import calculations as calc
from pilots.comparison import pilot_compare
from pilots.models import ControlKind, PilotCohort, PilotMembership
from tests.factories import DepartmentFactory, EmployeeFactory, TeamFactory
from tests.pilots.conftest import (
    BEFORE_DAY,
    DURING_DAY,
    END,
    START,
    TODAY,
    claude_days,
    cohort,
    spend,
)

K = 10**6
pytestmark = pytest.mark.django_db


def test_the_comparison_matches_the_table_computed_by_hand(pilot_and_control):
    # when
    result = pilot_compare(cohort=pilot_and_control["pilot"], today=TODAY)
    # then: ten days during (June 1–10, the pilot's end), the ten days before it
    assert (result.before.start, result.before.end) == (date(2026, 5, 22), date(2026, 5, 31))
    assert (result.during.start, result.during.end) == (START, END)
    pilot, control = result.pilot, result.control
    assert pilot.people == control.people == 5
    assert (pilot.before.spend_micros, pilot.during.spend_micros) == (50 * K, 100 * K)
    assert (pilot.before.units, pilot.during.units) == (Decimal(10), Decimal(25))
    assert (pilot.before.spend_per_unit_micros, pilot.during.spend_per_unit_micros) == (
        5 * K,
        4 * K,
    )
    assert (pilot.before.units_per_person, pilot.during.units_per_person) == (
        Decimal("2.00"),
        Decimal("5.00"),
    )
    assert pilot.change_per_person == Decimal("3.00")
    assert (control.before.spend_micros, control.during.spend_micros) == (40 * K, 60 * K)
    assert (control.before.spend_per_unit_micros, control.during.spend_per_unit_micros) == (
        4 * K,
        4 * K,
    )
    assert control.change_per_person == Decimal("1.00")
    assert result.difference == Decimal("2.00")
    assert result.note == ""
    assert result.control_label == "Control: Control cohort"


def test_an_open_pilot_runs_to_today_and_before_is_as_long(pilot_and_control):
    pilot = pilot_and_control["pilot"]
    pilot.end = None
    pilot.save()
    result = pilot_compare(cohort=pilot, today=date(2026, 6, 5))
    assert (result.during.start, result.during.end) == (START, date(2026, 6, 5))
    assert (result.before.start, result.before.end) == (date(2026, 5, 27), date(2026, 5, 31))


def test_fewer_than_five_people_is_too_small_to_conclude(pilot_and_control):
    # given one pilot member leaves the cohort: four remain
    PilotMembership.objects.filter(employee=pilot_and_control["pilot_people"][0]).delete()
    # when
    result = pilot_compare(cohort=pilot_and_control["pilot"], today=TODAY)
    # then the figures are there, the conclusion is not
    assert result.pilot.people == 4
    assert result.pilot.change_per_person == Decimal("3.00")
    assert result.difference is None
    assert result.note.startswith("Too small to conclude: the pilot has 4 people")


@override_settings(ALLOT_PILOT_MIN_GROUP=6)
def test_the_smallest_group_is_a_setting(pilot_and_control):
    result = pilot_compare(cohort=pilot_and_control["pilot"], today=TODAY)
    assert result.difference is None and "at least 6" in result.note


def test_no_metric_data_before_says_so_and_divides_by_nothing(pilot_and_control):
    # given the control group's days before the pilot are missing
    ClaudeCodeDay.objects.filter(
        employee__in=pilot_and_control["control_people"], day=BEFORE_DAY
    ).delete()
    result = pilot_compare(cohort=pilot_and_control["pilot"], today=TODAY)
    assert result.control.before.units == 0
    assert result.control.before.spend_per_unit_micros is None
    assert result.difference is None
    assert (
        result.note
        == "No metric data: no pull requests (Claude Code) recorded for the control before."
    )


def test_a_pilot_that_has_not_started_compares_nothing(pilot_and_control):
    pilot = pilot_and_control["pilot"]
    result = pilot_compare(cohort=pilot, today=START - timedelta(days=1))
    assert result.during.days == 0
    assert result.difference is None
    assert result.note == "The pilot has not started yet: nothing to compare."


def test_a_department_control_leaves_the_pilots_members_out():
    # given a department of seven: five in the pilot, and two others; one person elsewhere
    team = TeamFactory(department=DepartmentFactory(name="Web"))
    inside = [EmployeeFactory(team=team) for _ in range(7)]
    elsewhere = EmployeeFactory()
    for n, person in enumerate([*inside, elsewhere]):
        spend(person, DURING_DAY, "1", f"d-{n}")
        claude_days(person, BEFORE_DAY, 1)
        claude_days(person, DURING_DAY, 1)
    pilot = cohort(
        "Web pilot",
        inside[:5],
        control_kind=ControlKind.DEPARTMENT,
        control_department=team.department,
    )
    # when
    result = pilot_compare(cohort=pilot, today=TODAY)
    # then the control is the two others of the department, too few to conclude
    assert result.control.people == 2
    assert result.control.during.spend_micros == 2 * K
    assert "the control group 2" in result.note
    assert result.control_label == "Control: Web, not in the pilot"
    # and "everyone else" is everyone not in the pilot
    pilot.control_kind = ControlKind.EVERYONE_ELSE
    assert pilot_compare(cohort=pilot, today=TODAY).control.people == 3


def test_a_member_who_left_before_the_pilot_is_not_counted(pilot_and_control):
    member = PilotMembership.objects.filter(cohort=pilot_and_control["pilot"]).first()
    member.left_on = START - timedelta(days=1)
    member.save()
    assert pilot_compare(cohort=pilot_and_control["pilot"], today=TODAY).pilot.people == 4


def test_the_arithmetic_rounds_once_half_up_and_never_divides_by_zero():
    third = calc.per_person(Decimal(10), 3)
    assert calc.as_decimal(third) == Decimal("3.33")
    assert calc.per_person(Decimal(10), 0) is None
    change = calc.change_per_person(before=Decimal(1), during=Decimal(2), people=3)
    other = calc.change_per_person(before=Decimal(2), during=Decimal(1), people=3)
    # 1/3 - (-1/3) = 2/3: rounded once, not 0.33 + 0.33
    assert calc.as_decimal(calc.difference_in_differences(change, other)) == Decimal("0.67")
    assert calc.difference_in_differences(change, None) is None
    assert calc.as_decimal(calc.per_person(Decimal(1), 8)) == Decimal("0.13")  # 0.125 half-up


def test_every_pilot_name_is_unique(db):
    PilotCohort.objects.create(name="Solo", start=START)
    with pytest.raises(IntegrityError):
        PilotCohort.objects.create(name="Solo", start=START)
