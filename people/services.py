from collections.abc import Callable
from datetime import date, datetime

from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.utils import timezone

from people.models import Employee
from people.roles import MANAGERS
from people.selectors import company_today

# What a leaver's close does beyond this app (budgets releases the holds and forfeits the unused
# money): registered by the apps above people at start-up, run inside the leaver's transaction.
# Each returns a sentence for the person who made the change.
LeaverHook = Callable[[Employee, AbstractBaseUser | None, datetime], str]
_LEAVER_HOOKS: list[LeaverHook] = []


def leaver_hook_register(hook: LeaverHook) -> None:
    if hook not in _LEAVER_HOOKS:
        _LEAVER_HOOKS.append(hook)


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


@transaction.atomic
def employee_deactivate(
    *, employee: Employee, acting_user: AbstractBaseUser | None, last_day: date | None = None
) -> list[str]:
    """Close a leaver, all in one transaction: the employee and their sign-in are deactivated at
    once (authorize refuses them from the commit on), their last day recorded (a last day still
    to come becomes today: they leave now), and every registered hook run (budgets releases
    their held reservations and forfeits their budgets' unused money). Safe to call again: a
    closed leaver is left as is. Returns what each hook did, for the message."""
    locked = Employee.objects.select_for_update().select_related("user").get(pk=employee.pk)
    today = company_today()
    day = last_day or (locked.left_on if locked.left_on and locked.left_on <= today else today)
    changed = []
    if locked.is_active:
        locked.is_active = False
        changed.append("is_active")
    if locked.left_on != day:
        locked.left_on = day
        changed.append("left_on")
    if changed:
        locked.save(update_fields=changed)
    if locked.user.is_active:
        locked.user.is_active = False
        locked.user.save(update_fields=["is_active"])
    now = timezone.now()
    done = [hook(locked, acting_user, now) for hook in _LEAVER_HOOKS]
    managers_group_sync()  # a leaver no longer counts as anyone's report
    employee.is_active, employee.left_on = locked.is_active, locked.left_on
    return [line for line in done if line]


def leavers_due_close(*, acting_user: AbstractBaseUser | None = None) -> int:
    """Close every employee still active after their last day (the nightly job)."""
    due = Employee.objects.filter(is_active=True, left_on__lt=company_today()).order_by("pk")
    for employee in due:
        employee_deactivate(employee=employee, acting_user=acting_user)
    return len(due)
