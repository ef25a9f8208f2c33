"""What a SCIM call does, through the same people services the admin uses: a new person, a
change, a leaver (`people.services.employee_deactivate`, nothing else), a team and its members.
The identity provider's view of a person (`ScimPerson`) is all plain values; the adapters turn
SCIM documents into it and back."""

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q, QuerySet
from django.utils import timezone

from common.errors import AllotError
from people.level_changes import employee_level_change
from people.models import Employee, Level, Team
from people.selectors import company_today
from people.services import (
    employee_create,
    employee_deactivate,
    employee_reactivate,
    employee_update,
    person_create,
    person_update,
    team_members_set,
)
from provisioning.models import (
    ProvisionedPerson,
    ProvisionedTeam,
    ScimToken,
    token_digest,
    token_new,
)

User = get_user_model()

UNSET: Any = object()  # a change the call did not ask for


@dataclass
class PersonChange:
    """What a SCIM call asks of a person: UNSET where it says nothing."""

    username: Any = UNSET
    first_name: Any = UNSET
    last_name: Any = UNSET
    email: Any = UNSET
    active: Any = UNSET
    external_id: Any = UNSET
    manager: Any = UNSET  # an Employee or None
    level: Any = UNSET  # the level's name or rank as sent, or None
    extra: dict = field(default_factory=dict)
    # Filled by the service: what a new level did to this year's budget (the policy's sentence).
    level_change: str = ""

    def given(self, *names: str) -> dict[str, Any]:
        return {name: getattr(self, name) for name in names if getattr(self, name) is not UNSET}


def scim_users() -> QuerySet:
    """The people SCIM sees: employees and those waiting for a level, not those it deleted."""
    return (
        User.objects.filter(Q(employee__isnull=False) | Q(provisioned__isnull=False))
        .exclude(provisioned__deleted_at__isnull=False)
        .select_related("employee__manager", "provisioned__manager_user", "provisioned__team")
        .order_by("pk")
    )


def waiting_list() -> QuerySet:
    """HR's "needs a level" list: people the provider sent who are not employees yet (and
    still active there: someone switched off before they started needs nothing from HR)."""
    return ProvisionedPerson.objects.filter(
        user__employee__isnull=True, user__is_active=True, deleted_at__isnull=True
    )


def level_match(asked: str | None) -> Level | None:
    """The level a provider names, by name (any case) or by rank; None when nothing matches."""
    asked = (asked or "").strip()
    if not asked:
        return None
    level = Level.objects.filter(name__iexact=asked).first()
    if level is None and asked.isdigit():
        level = Level.objects.filter(rank=int(asked)).first()
    return level


def manager_match(value: str | None) -> Any:
    """The manager a provider names, as a SCIM user (a sign-in): by id or by email."""
    value = (value or "").strip()
    if not value:
        return None
    found = scim_users().filter(email__iexact=value).first()
    if found is None and value.isdigit():
        found = scim_users().filter(pk=int(value)).first()
    if found is None:
        raise AllotError(f"No user {value} to be the manager.", field="manager")
    return found


def _external_id_check(external_id: Any, user: Any = None) -> None:
    """An externalId names one person, employee or waiting: a second is a 409."""
    if external_id in (UNSET, None, ""):
        return
    others = Employee.objects.filter(external_id=external_id)
    waiting = ProvisionedPerson.objects.filter(external_id=external_id)
    if user is not None and user.pk:
        others, waiting = others.exclude(user=user), waiting.exclude(user=user)
    if others.exists() or waiting.exists():
        raise AllotError("Another person has this externalId.", code="uniqueness")


def _employee_of(user: Any) -> Employee | None:
    return Employee.objects.filter(user=user).first() if user is not None else None


@transaction.atomic
def scim_user_create(*, change: PersonChange, acting_user: Any) -> Any:
    username = change.username if change.username is not UNSET else ""
    if not username:
        raise AllotError("userName is required.", field="userName")
    if User.objects.filter(username__iexact=username).exists():
        raise AllotError("A user with this userName exists.", field="userName", code="uniqueness")
    email = change.email if change.email not in (UNSET, None, "") else username
    _external_id_check(change.external_id)
    try:
        user = person_create(
            email=email,
            first_name=change.given("first_name").get("first_name") or "",
            last_name=change.given("last_name").get("last_name") or "",
            username=username,
        )
    except IntegrityError as exc:
        raise AllotError("A user with this userName exists.", code="uniqueness") from exc
    asked = change.given("level").get("level")
    record = ProvisionedPerson.objects.create(
        user=user,
        level_asked=asked or "",
        manager_user=change.given("manager").get("manager"),
        external_id=change.given("external_id").get("external_id") or None,
    )
    level = level_match(asked)
    if level is not None:
        waiting_promote(waiting=record, level=level)
    if change.active is False:
        scim_user_deactivate(user=user, acting_user=acting_user)
    return user


@transaction.atomic
def scim_user_update(*, user: Any, change: PersonChange, acting_user: Any) -> Any:
    names = change.given("username", "first_name", "last_name", "email")
    if "username" in names:
        taken = User.objects.filter(username__iexact=names["username"]).exclude(pk=user.pk)
        if not names["username"] or taken.exists():
            raise AllotError("userName is taken or empty.", field="userName", code="uniqueness")
    if names.get("email") in ("", None):
        names.pop("email", None)
    _external_id_check(change.external_id, user)
    person_update(user=user, **names)
    record, _ = ProvisionedPerson.objects.get_or_create(user=user)
    if change.manager is not UNSET and record.manager_user != change.manager:
        record.manager_user = change.manager
        record.save(update_fields=["manager_user"])
    employee = _employee_of(user)
    if employee is not None:
        fields = change.given("external_id")
        if "external_id" in fields:
            fields["external_id"] = fields["external_id"] or None
        if change.manager is not UNSET:
            fields["manager"] = _employee_of(change.manager)
        employee_update(employee=employee, **fields)
        level = level_match(change.level) if change.level is not UNSET else None
        if level is not None and level.pk != employee.level_id:
            moved = employee_level_change(
                employee=employee, new_level=level, acting_user=acting_user, source="SCIM"
            )
            change.level_change = moved.sentence
    else:
        employee = _waiting_update(record, change)
    if change.active is False:
        scim_user_deactivate(user=user, acting_user=acting_user)
    elif change.active is True:
        _reactivate(user, employee)
    return user


def _waiting_update(waiting: ProvisionedPerson, change: PersonChange) -> Employee | None:
    """Keep what the provider says of someone waiting; with a level we know, they become an
    employee (and leave the waiting list)."""
    if change.external_id is not UNSET:
        waiting.external_id = change.external_id or None
    if change.level is not UNSET:
        waiting.level_asked = change.level or ""
    waiting.save()
    level = level_match(waiting.level_asked)
    if level is None:
        return None
    return waiting_promote(waiting=waiting, level=level)


@transaction.atomic
def waiting_promote(*, waiting: ProvisionedPerson, level: Level) -> Employee:
    """HR (or the provider) gave a waiting person a level: they become an employee, and the
    manager of anyone the provider said reports to them."""
    external_id, waiting.external_id = waiting.external_id, None
    waiting.save(update_fields=["external_id"])
    employee = employee_create(
        user=waiting.user,
        level=level,
        hire_date=company_today(),
        manager=_employee_of(waiting.manager_user),
        team=waiting.team,
        external_id=external_id,
    )
    reports = Employee.objects.filter(
        manager=None, user__provisioned__manager_user=waiting.user
    ).exclude(pk=employee.pk)
    for report in reports:
        employee_update(employee=report, manager=employee)
    if not waiting.user.is_active:
        employee_deactivate(employee=employee, acting_user=None)
    return employee


def _reactivate(user: Any, employee: Employee | None) -> None:
    if employee is not None:
        employee_reactivate(employee=employee)
    elif not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])


@transaction.atomic
def scim_user_deactivate(*, user: Any, acting_user: Any) -> list[str]:
    """`active: false` or DELETE: an employee leaves through `employee_deactivate` (their holds
    released and unused money forfeited, once however often it is asked); someone still
    waiting for a level has only a sign-in to switch off."""
    employee = Employee.objects.filter(user=user).first()
    if employee is not None:
        return employee_deactivate(employee=employee, acting_user=acting_user)
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.is_active:
        locked.is_active = False
        locked.save(update_fields=["is_active"])
    user.is_active = False
    return []


@transaction.atomic
def scim_user_delete(*, user: Any, acting_user: Any) -> None:
    """DELETE closes the person as a leaver and hides them from SCIM; every row stays."""
    scim_user_deactivate(user=user, acting_user=acting_user)
    record, _ = ProvisionedPerson.objects.get_or_create(user=user)
    if record.deleted_at is None:
        record.deleted_at = timezone.now()
        record.save(update_fields=["deleted_at"])


def team_members_change(*, team: Team, add: list[int], remove: list[int]) -> None:
    """Members by SCIM user id: employees move team; someone waiting keeps it for later."""
    wanted = set(add) | set(remove)
    users = {user.pk: user for user in scim_users().filter(pk__in=wanted)}
    missing = wanted - set(users)
    if missing:
        raise AllotError(f"No user {sorted(missing)[0]}.", field="members")
    employees = {e.user_id: e for e in Employee.objects.filter(user_id__in=wanted)}
    team_members_set(
        team=team,
        add=[employees[pk] for pk in add if pk in employees],
        remove=[employees[pk] for pk in remove if pk in employees],
    )
    waiting = ProvisionedPerson.objects.filter(user_id__in=wanted - set(employees))
    for record in waiting:  # saved one by one: each change is in the history
        if record.user_id in add:
            record.team = team
        elif record.team_id == team.pk:
            record.team = None
        else:
            continue
        record.save(update_fields=["team"])


@transaction.atomic
def team_delete(*, team: Team) -> None:
    """A team the provider deletes: its members leave it, then it goes, unless something keeps
    it (a pool budget, a request, an offer), when HR closes it instead."""
    team_members_set(team=team, remove=list(team.members.all()))
    for record in ProvisionedPerson.objects.filter(team=team):
        record.team = None
        record.save(update_fields=["team"])
    try:
        with transaction.atomic():
            team.delete()
    except ProtectedError as exc:
        raise AllotError(
            "The team has budgets or requests: HR closes it.", code="mutability"
        ) from exc


@transaction.atomic
def scim_token_create(*, name: str, created_by: Any) -> tuple[ScimToken, str]:
    """A new token and its secret (the caller shows it once; only the digest is stored)."""
    name = name.strip()
    if not name:
        raise ValueError("A token needs a name.")
    if ScimToken.objects.filter(name=name).exists():
        raise ValueError(f"A token named {name!r} exists.")
    if not created_by.is_superuser:
        raise ValueError("Only a superuser makes SCIM tokens.")
    raw = token_new()
    token = ScimToken.objects.create(name=name, digest=token_digest(raw), created_by=created_by)
    return token, raw


@transaction.atomic
def scim_token_revoke(*, token: ScimToken) -> None:
    if not token.revoked:
        token.revoked = True
        token.save(update_fields=["revoked"])


@transaction.atomic
def team_external_id_set(*, team: Team, external_id: str | None) -> None:
    record, _ = ProvisionedTeam.objects.get_or_create(team=team)
    if record.external_id != (external_id or None):
        if external_id and ProvisionedTeam.objects.filter(external_id=external_id).exists():
            raise AllotError("Another team has this externalId.", code="uniqueness")
        record.external_id = external_id or None
        record.save(update_fields=["external_id"])
