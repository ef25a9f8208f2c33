"""django-scim2's adapters for Allot's people: a SCIM User is a sign-in (the employee behind
it, or the person waiting for a level), a SCIM Group is a team. Reading builds the SCIM
document; writing turns it into a `PersonChange` and hands it to provisioning.services."""

from typing import Any
from urllib.parse import urljoin

from django.core.exceptions import ValidationError
from django.urls import reverse
from django_scim import constants, exceptions
from django_scim.adapters import SCIMGroup, SCIMUser

from common.errors import AllotError
from people.models import Employee
from people.services import team_create, team_rename
from provisioning import services
from provisioning.patch import group_operations, member_ids, user_operations
from provisioning.schemas import ENTERPRISE_USER
from provisioning.services import UNSET, PersonChange


def scim_error(error: AllotError | ValidationError) -> exceptions.SCIMException:
    if isinstance(error, ValidationError):
        text = "; ".join(error.messages)
        unique = "already exists" in text
        error = AllotError(text, code="uniqueness" if unique else "invalid")
    if error.code == "uniqueness":
        return exceptions.IntegrityError(error.message, scim_type="uniqueness")
    if error.code == "mutability":
        return exceptions.SCIMException(error.message, status=409, scim_type="mutability")
    return exceptions.BadRequestError(error.message, scim_type="invalidValue")


def base_location(request: Any = None, *args: Any, **kwargs: Any) -> str:
    """Locations are on the host the provider called (django-scim2's default is one setting)."""
    return request.build_absolute_uri("/") if request is not None else "http://localhost/"


def _timestamp(value: Any) -> str:
    return value.isoformat() if value else ""


def _resource_type(doc: dict, endpoint: str, extensions: list | None = None) -> dict:
    # RFC 7643 6: the endpoint is relative to the base URL (django-scim2 gives the full path).
    doc["endpoint"] = endpoint
    if extensions:
        doc["schemaExtensions"] = [{"schema": uri, "required": False} for uri in extensions]
    return doc


class AllotUser(SCIMUser):
    id_field = "pk"

    @classmethod
    def resource_type_dict(cls, request: Any = None) -> dict:
        return _resource_type(super().resource_type_dict(request), "/Users", [ENTERPRISE_USER])

    def __init__(self, obj: Any, request: Any = None) -> None:
        super().__init__(obj, request)
        self.change = PersonChange()

    @property
    def employee(self) -> Employee | None:
        return getattr(self.obj, "employee", None) if self.obj.pk else None

    @property
    def groups(self) -> list[dict]:
        employee = self.employee
        if employee is not None:
            team = employee.team
        else:
            waiting = getattr(self.obj, "provisioned", None) if self.obj.pk else None
            team = waiting.team if waiting else None
        if team is None:
            return []
        group = AllotGroup(team, self.request)
        return [{"value": group.id, "$ref": group.location, "display": team.name}]

    @property
    def meta(self) -> dict:
        return {
            "resourceType": self.resource_type,
            "created": _timestamp(self.obj.date_joined),
            "lastModified": _timestamp(self.obj.date_joined),
            "location": self.location,
        }

    def to_dict(self) -> dict:
        user, employee = self.obj, self.employee
        waiting = getattr(user, "provisioned", None)
        d = {
            "schemas": [constants.SchemaURI.USER],
            "id": self.id,
            "userName": user.username,
            "name": {"givenName": user.first_name, "familyName": user.last_name},
            "displayName": self.display_name,
            "emails": [{"value": user.email}] if user.email else [],
            "active": user.is_active,
            "groups": self.groups,
            "meta": self.meta,
        }
        name = {"givenName": user.first_name, "familyName": user.last_name}
        d["name"] = {key: value for key, value in name.items() if value}  # unset: absent
        if not d["name"]:
            del d["name"]
        external_id = employee.external_id if employee else (waiting and waiting.external_id)
        if external_id:
            d["externalId"] = external_id
        manager = employee.manager.user if employee and employee.manager_id else None
        if manager is None and waiting is not None:
            manager = waiting.manager_user
        if manager is not None:
            d["schemas"] = [constants.SchemaURI.USER, ENTERPRISE_USER]
            d[ENTERPRISE_USER] = {
                "manager": {
                    "value": str(manager.pk),
                    "$ref": urljoin(
                        base_location(self.request), reverse("scim:users", args=[manager.pk])
                    ),
                }
            }
        return d

    def from_dict(self, d: dict) -> None:
        change = PersonChange(username=d.get("userName") or "")
        name = d.get("name") or {}
        change.first_name = name.get("givenName") or ""
        change.last_name = name.get("familyName") or ""
        emails = d.get("emails")
        if emails:
            change.email = self.email_from(emails)
        if d.get("active") is not None:
            change.active = d["active"]
        change.external_id = d.get("externalId") or None
        enterprise = d.get(ENTERPRISE_USER) or {}
        if "manager" in enterprise:
            change.manager = self._manager(enterprise["manager"])
        if enterprise.get("level"):
            change.level = str(enterprise["level"])
        self.change = change

    def email_from(self, value: Any) -> str:
        """The primary email of a SCIM `emails` value (django-scim2's parsing and checks),
        leaving the user as it is: the service compares and saves."""
        before = self.obj.email
        try:
            self.parse_emails(value)
            return self.obj.email
        finally:
            self.obj.email = before

    def _manager(self, value: Any) -> Any:
        if isinstance(value, dict):
            value = value.get("value")
        try:
            return services.manager_match(str(value) if value else None)
        except (AllotError, ValidationError) as error:
            raise scim_error(error) from error

    def handle_operations(self, operations: list) -> None:
        self.change = user_operations(self, operations)
        self.save()

    def save(self) -> None:
        acting = self.request.user
        try:
            if self.obj.pk is None:
                self.obj = services.scim_user_create(change=self.change, acting_user=acting)
            else:
                services.scim_user_update(user=self.obj, change=self.change, acting_user=acting)
        except (AllotError, ValidationError) as error:
            raise scim_error(error) from error
        if self.change.level_change:  # the view answers with it (views.LEVEL_CHANGE_HEADER)
            self.request.scim_level_change = self.change.level_change
        self.obj = services.scim_users().get(pk=self.obj.pk)

    def delete(self) -> None:
        services.scim_user_delete(user=self.obj, acting_user=self.request.user)


class AllotGroup(SCIMGroup):
    id_field = "pk"

    @classmethod
    def resource_type_dict(cls, request: Any = None) -> dict:
        return _resource_type(super().resource_type_dict(request), "/Groups")

    @property
    def members(self) -> list[dict]:
        users = services.scim_users().filter(employee__team=self.obj)
        waiting = services.scim_users().filter(provisioned__team=self.obj, employee=None)
        return [
            {
                "value": str(user.pk),
                "$ref": urljoin(base_location(self.request), reverse("scim:users", args=[user.pk])),
                "type": "User",
            }
            for user in [*users, *waiting]
        ]

    @property
    def meta(self) -> dict:
        return {"resourceType": self.resource_type, "location": self.location}

    def to_dict(self) -> dict:
        d = {
            "schemas": [constants.SchemaURI.GROUP],
            "id": self.id,
            "displayName": self.obj.name,
            "members": self.members,
            "meta": self.meta,
        }
        record = getattr(self.obj, "scim", None) if self.obj.pk else None
        if record is not None and record.external_id:
            d["externalId"] = record.external_id
        return d

    def from_dict(self, d: dict) -> None:
        self.external_id = d.get("externalId") or None
        self.name = (d.get("displayName") or "").strip()
        self.member_ids = member_ids(d.get("members") or [])

    def handle_operations(self, operations: list) -> None:
        rename, add, remove, whole, external_id = group_operations(operations)
        if whole is not None:
            current = {int(member["value"]) for member in self.members}
            add, remove = sorted(set(whole) - current), sorted(current - set(whole))
        try:
            if rename is not UNSET:
                team_rename(team=self.obj, name=rename)
            if external_id is not UNSET:
                services.team_external_id_set(team=self.obj, external_id=external_id)
            services.team_members_change(team=self.obj, add=add, remove=remove)
        except (AllotError, ValidationError) as error:
            raise scim_error(error) from error

    def save(self) -> None:
        if not self.name:
            raise exceptions.BadRequestError("displayName is required.", scim_type="invalidValue")
        try:
            if self.obj.pk is None:
                self.obj = team_create(name=self.name)
            else:
                team_rename(team=self.obj, name=self.name)
            services.team_external_id_set(team=self.obj, external_id=self.external_id)
            current = {int(member["value"]) for member in self.members}
            services.team_members_change(
                team=self.obj,
                add=sorted(set(self.member_ids) - current),
                remove=sorted(current - set(self.member_ids)),
            )
        except (AllotError, ValidationError) as error:
            raise scim_error(error) from error

    def delete(self) -> None:
        try:
            services.team_delete(team=self.obj)
        except (AllotError, ValidationError) as error:
            raise scim_error(error) from error
