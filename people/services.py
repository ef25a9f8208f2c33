from django.contrib.auth.models import Group
from django.db import transaction

from people.models import Employee
from people.roles import MANAGERS


@transaction.atomic
def managers_group_sync() -> int:
    """Make the Managers group exactly the users who have at least one active report."""
    group, _ = Group.objects.get_or_create(name=MANAGERS)
    manager_user_ids = set(
        Employee.objects.filter(reports__is_active=True)
        .values_list("user_id", flat=True)
        .distinct()
    )
    current = set(group.user_set.values_list("id", flat=True))
    if current - manager_user_ids:
        group.user_set.remove(*(current - manager_user_ids))
    if manager_user_ids - current:
        group.user_set.add(*(manager_user_ids - current))
    return len(manager_user_ids)
