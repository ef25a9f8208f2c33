from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.utils import timezone

from common.errors import AllotError
from people.models import Department, Employee, Level, Team
from people.roles import ENGINEERS, MANAGERS
from people.selectors import company_today

User = get_user_model()

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


def _unique_email(email: str, *, exclude_user_id: int | None = None) -> str:
    email = email.strip().lower()
    taken = User.objects.filter(email__iexact=email)
    if exclude_user_id is not None:
        taken = taken.exclude(pk=exclude_user_id)
    if taken.exists():
        raise AllotError(
            "Someone already signs in with this email.", field="email", code="uniqueness"
        )
    return email


@transaction.atomic
def person_create(*, email: str, first_name: str, last_name: str, username: str = "") -> Any:
    """A sign-in for a new person: no usable password (they reset it, or single sign-on claims
    it), in the engineers' role. The admin's new employee and SCIM's new user both start here."""
    email = _unique_email(email)
    user = User(username=username or email, email=email, first_name=first_name, last_name=last_name)
    user.set_unusable_password()
    user.save()
    user.groups.add(Group.objects.get_or_create(name=ENGINEERS)[0])
    return user


@transaction.atomic
def employee_create(*, user: Any, level: Level, hire_date: date, **fields: Any) -> Employee:
    """The employee of a sign-in (made by `person_create`), with their level and any of team,
    manager, external_id, annual_budget_micros."""
    employee = Employee(user=user, level=level, hire_date=hire_date, **fields)
    employee.full_clean(exclude=["user"])
    employee.save()
    managers_group_sync()
    return employee


@transaction.atomic
def person_update(*, user: Any, **fields: Any) -> Any:
    """Change a person's names or email (the identity provider's feed, as HR would)."""
    allowed = {"first_name", "last_name", "email", "username"}
    if set(fields) - allowed:
        raise AllotError(f"Only {', '.join(sorted(allowed))} change here.")
    if "email" in fields:
        fields["email"] = _unique_email(fields["email"], exclude_user_id=user.pk)
    changed = [name for name, value in fields.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, fields[name])
    if changed:
        user.save(update_fields=changed)
    return user


@transaction.atomic
def employee_update(*, employee: Employee, **fields: Any) -> Employee:
    """Change an employee's team, manager, level or external id (not their active flag: leaving
    is `employee_deactivate`, coming back `employee_reactivate`)."""
    allowed = {"team", "manager", "level", "external_id"}
    if set(fields) - allowed:
        raise AllotError(f"Only {', '.join(sorted(allowed))} change here.")
    changed = [name for name, value in fields.items() if getattr(employee, name) != value]
    for name in changed:
        setattr(employee, name, fields[name])
    if changed:
        employee.full_clean(exclude=["user"])
        employee.save(update_fields=changed)
        if "manager" in changed:
            managers_group_sync()
    return employee


@transaction.atomic
def employee_agreed_budget_add(
    *, employee: Employee, amount_micros: int, acting_user: AbstractBaseUser | None, reason: str
) -> tuple[int, int]:
    """Raise a person's agreed annual budget by an amount (an approved permanent increase):
    under the row's lock, so two at once add up. The history row names who and why. Returns
    (the annual amount before, after)."""
    if amount_micros <= 0:
        raise AllotError("A permanent increase is above zero.", field="amount")
    locked = Employee.objects.select_for_update().select_related("level").get(pk=employee.pk)
    before = locked.annual_budget_due_micros
    locked.annual_budget_micros = before + amount_micros
    locked._history_user = acting_user
    locked._change_reason = reason[:100]
    locked.save(update_fields=["annual_budget_micros"])
    employee.annual_budget_micros = locked.annual_budget_micros
    return before, locked.annual_budget_micros


@transaction.atomic
def employee_reactivate(*, employee: Employee) -> Employee:
    """Someone who left is back (the identity provider turned them on again): active, their
    sign-in with them, no last day. What was forfeited stays forfeited; HR allocates anew."""
    locked = Employee.objects.select_for_update().select_related("user").get(pk=employee.pk)
    if not locked.is_active or locked.left_on is not None:
        locked.is_active, locked.left_on = True, None
        locked.save(update_fields=["is_active", "left_on"])
    if not locked.user.is_active:
        locked.user.is_active = True
        locked.user.save(update_fields=["is_active"])
    managers_group_sync()
    employee.is_active, employee.left_on = locked.is_active, locked.left_on
    return employee


# Where a team the identity provider makes is filed until HR moves it to its department.
PROVISIONED_DEPARTMENT = "From the identity provider"


@transaction.atomic
def team_create(*, name: str, department: Department | None = None) -> Team:
    if department is None:
        department, _ = Department.objects.get_or_create(name=PROVISIONED_DEPARTMENT)
    team = Team(name=name, department=department)
    team.full_clean()
    team.save()
    return team


@transaction.atomic
def team_rename(*, team: Team, name: str) -> Team:
    if team.name != name:
        team.name = name
        team.full_clean()
        team.save(update_fields=["name"])
    return team


@transaction.atomic
def team_members_set(
    *, team: Team, add: Iterable[Employee] = (), remove: Iterable[Employee] = ()
) -> None:
    """Put people in a team (each leaves the one they were in) or take them out of it."""
    for employee in add:
        employee_update(employee=employee, team=team)
    for employee in remove:
        if employee.team_id == team.pk:
            employee_update(employee=employee, team=None)
