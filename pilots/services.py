"""The rules a pilot's members keep: nobody in both a pilot and its control cohort (an error),
and people in two pilots whose dates overlap (allowed, but said)."""

from collections.abc import Iterable
from datetime import date

from django.db.models import Q

from pilots.models import ControlKind, PilotCohort, PilotMembership


def pilot_control_overlap(*, cohort: PilotCohort, employee_ids: Iterable[int]) -> list[str]:
    """Names of the people who would be in both this cohort and a cohort it is compared with
    (its own control, or a pilot that uses this cohort as its control)."""
    ids = set(employee_ids)
    if not ids:
        return []
    paired = Q(pk__in=[])
    if cohort.control_kind == ControlKind.COHORT and cohort.control_cohort_id:
        paired |= Q(pk=cohort.control_cohort_id)
    if cohort.pk:
        paired |= Q(control_kind=ControlKind.COHORT, control_cohort_id=cohort.pk)
    clashes = (
        PilotMembership.objects.filter(cohort__in=PilotCohort.objects.filter(paired))
        .filter(employee_id__in=ids)
        .exclude(cohort_id=cohort.pk)
        .select_related("employee__user", "cohort")
        .order_by("employee__user__email")
    )
    return [f"{m.employee.display_name} (in {m.cohort.name})" for m in clashes]


def pilot_overlaps(*, cohort: PilotCohort) -> list[str]:
    """Other pilots whose dates overlap this one's and which share members with it."""
    if not cohort.pk:
        return []
    far_future = date.max
    others = (
        PilotCohort.objects.exclude(pk=cohort.pk)
        .filter(start__lte=cohort.end or far_future)
        .filter(Q(end__isnull=True) | Q(end__gte=cohort.start))
        .filter(memberships__employee__pilot_memberships__cohort=cohort)
        .distinct()
        .order_by("name")
    )
    return [other.name for other in others]
