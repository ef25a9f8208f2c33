"""Who may see which pilots: HR, finance and superusers all of them; a manager those with one of
their reports among the members; anyone else none (the pages answer 403)."""

from django.db.models import QuerySet

from people.models import Employee
from people.roles import FINANCE, HR, has_role
from pilots.models import PilotCohort


def pilots_visible_to(user) -> QuerySet[PilotCohort] | None:
    """The pilots `user` may read, or None when they may read no pilot page at all."""
    pilots = PilotCohort.objects.select_related("control_cohort", "control_department")
    if has_role(user, HR, FINANCE):
        return pilots
    employee = Employee.objects.filter(user=user).first() if user.is_authenticated else None
    if employee is None or not Employee.objects.filter(manager=employee).exists():
        return None
    return pilots.filter(memberships__employee__manager=employee).distinct()
