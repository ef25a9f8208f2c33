"""A pilot against its control group, before and during the pilot, on spend and one productivity
metric: the one function `pilot_compare`, read by the pilots' pages and the quarterly report.

Windows: "during" runs from the pilot's start to its end or `today`, whichever is first
(inclusive); "before" is as many days just before the start. The same people are counted in
both windows: the pilot's members whose membership overlaps "during", and the control group
(another cohort's members, or everyone in a department or the company who is not in the pilot,
hired by the end of "during" and not gone before "before" began). Spend is what their usage
events cost (the ledger's usage, as the quarterly report reads it per person); the metric is the
Claude Code per-engineer days (`connectors.claude_code`). Nothing is concluded when either group
is smaller than ALLOT_PILOT_MIN_GROUP or a window of either group has no metric data."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from budgets.models import UsageEvent
from common.money import Micros, spend_per_unit
from connectors.claude_code import metric_sum
from people.models import Employee
from pilots import calculations as calc
from pilots.models import ControlKind, PilotCohort, PilotMembership


@dataclass(frozen=True)
class Window:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return max((self.end - self.start).days + 1, 0)


@dataclass(frozen=True)
class WindowFigures:
    spend_micros: Micros
    units: Decimal
    spend_per_unit_micros: Micros | None
    units_per_person: Decimal | None


@dataclass(frozen=True)
class GroupFigures:
    label: str
    people: int
    before: WindowFigures
    during: WindowFigures
    change_per_person: Decimal | None


@dataclass(frozen=True)
class PilotComparison:
    cohort_id: int
    name: str
    metric_label: str
    control_label: str
    before: Window
    during: Window
    pilot: GroupFigures
    control: GroupFigures
    difference: Decimal | None  # pilot change per person minus control change; None: no verdict
    note: str

    @property
    def groups(self) -> tuple[GroupFigures, GroupFigures]:
        return (self.pilot, self.control)


def pilot_windows(cohort: PilotCohort, today: date) -> tuple[Window, Window]:
    during_end = min(cohort.end or today, today)
    during = Window(cohort.start, during_end)
    before_start = cohort.start - timedelta(days=during.days)
    return Window(before_start, cohort.start - timedelta(days=1)), during


def pilot_member_ids(cohort: PilotCohort, during: Window) -> set[int]:
    """Members whose membership overlaps the window (blank dates: the pilot's own)."""
    return set(
        PilotMembership.objects.filter(cohort=cohort)
        .filter(Q(joined_on__isnull=True) | Q(joined_on__lte=during.end))
        .filter(Q(left_on__isnull=True) | Q(left_on__gte=during.start))
        .values_list("employee_id", flat=True)
    )


def control_member_ids(cohort: PilotCohort, pilot_ids: set[int], before: Window, during: Window):
    if cohort.control_kind == ControlKind.COHORT and cohort.control_cohort is not None:
        return pilot_member_ids(cohort.control_cohort, during) - pilot_ids
    people = Employee.objects.filter(hire_date__lte=during.end).filter(
        Q(left_on__isnull=True) | Q(left_on__gte=before.start)
    )
    if cohort.control_kind == ControlKind.DEPARTMENT:
        people = people.filter(team__department_id=cohort.control_department_id)
    return set(people.values_list("id", flat=True)) - pilot_ids


def control_label(cohort: PilotCohort) -> str:
    if cohort.control_kind == ControlKind.COHORT and cohort.control_cohort is not None:
        return f"Control: {cohort.control_cohort.name}"
    if cohort.control_kind == ControlKind.DEPARTMENT and cohort.control_department is not None:
        return f"Control: {cohort.control_department.name}, not in the pilot"
    return "Control: everyone not in the pilot"


def _moment(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def _spend(ids: set[int], before: Window, during: Window) -> tuple[Micros, Micros]:
    def between(window: Window) -> Q:
        return Q(
            occurred_at__gte=_moment(window.start),
            occurred_at__lt=_moment(window.end + timedelta(days=1)),
        )

    sums = UsageEvent.objects.filter(employee_id__in=ids).aggregate(
        before=Sum("cost_micros", filter=between(before), default=0),
        during=Sum("cost_micros", filter=between(during), default=0),
    )
    return sums["before"], sums["during"]


def _window_figures(spend: Micros, units: Decimal, people: int) -> WindowFigures:
    per_person = calc.per_person(units, people)
    return WindowFigures(
        spend_micros=spend,
        units=units,
        spend_per_unit_micros=spend_per_unit(spent_micros=spend, units=units),
        units_per_person=None if per_person is None else calc.as_decimal(per_person),
    )


def _group(label: str, ids: set[int], metric: str, before: Window, during: Window):
    spend_before, spend_during = _spend(ids, before, during)
    units = [
        metric_sum(metric=metric, employee_ids=ids, start=w.start, end=w.end + timedelta(days=1))
        for w in (before, during)
    ]
    change = calc.change_per_person(before=units[0], during=units[1], people=len(ids))
    figures = GroupFigures(
        label=label,
        people=len(ids),
        before=_window_figures(spend_before, units[0], len(ids)),
        during=_window_figures(spend_during, units[1], len(ids)),
        change_per_person=None if change is None else calc.as_decimal(change),
    )
    return figures, change


def _people(count: int) -> str:
    return "1 person" if count == 1 else f"{count} people"


def verdict_note(pilot: GroupFigures, control: GroupFigures, metric: str) -> str:
    """Why there is no conclusion (the first reason that applies), or "" when there is one."""
    smallest = settings.ALLOT_PILOT_MIN_GROUP
    if pilot.people < smallest or control.people < smallest:
        return (
            f"Too small to conclude: the pilot has {_people(pilot.people)} and the control group "
            f"{control.people}; each needs at least {smallest}."
        )
    empty = [
        f"{group.label.lower()} {when}"
        for group in (pilot, control)
        for when, figures in (("before", group.before), ("during", group.during))
        if figures.units <= 0
    ]
    if empty:
        return f"No metric data: no {metric} recorded for the " + ", ".join(empty) + "."
    return ""


def pilot_compare(*, cohort: PilotCohort, today: date) -> PilotComparison:
    """The comparison table of one pilot as of `today` (the company's day, or a report's
    cutoff): people, spend, metric units, spend per unit and metric per person for each group
    and window, each group's change per person, and the difference in differences."""
    before, during = pilot_windows(cohort, today)
    metric_label = cohort.get_metric_display()
    pilot_ids = pilot_member_ids(cohort, during)
    pilot, pilot_change = _group("Pilot", pilot_ids, cohort.metric, before, during)
    control_ids = control_member_ids(cohort, pilot_ids, before, during)
    control, control_change = _group("Control", control_ids, cohort.metric, before, during)
    note = "The pilot has not started yet: nothing to compare." if during.days == 0 else ""
    note = note or verdict_note(pilot, control, metric_label[0].lower() + metric_label[1:])
    difference = calc.difference_in_differences(pilot_change, control_change)
    return PilotComparison(
        cohort_id=cohort.pk,
        name=cohort.name,
        metric_label=metric_label,
        control_label=control_label(cohort),
        before=before,
        during=during,
        pilot=pilot,
        control=control,
        difference=None if note or difference is None else calc.as_decimal(difference),
        note=note,
    )
