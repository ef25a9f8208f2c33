"""SCIM PATCH (RFC 7644 section 3.5.2) for the attributes Allot keeps. django-scim2 leaves
PATCH to its adapters; these read the operations the providers send (a path, or no path and a
document of attributes, as Entra ID and Okta both do) into one change."""

from typing import Any

from django_scim import exceptions

from provisioning.schemas import ENTERPRISE_USER, USER
from provisioning.services import UNSET, PersonChange

PREFIXES = (USER.lower() + ":", ENTERPRISE_USER.lower() + ":")
# RFC 7643 User attributes Allot does not keep: providers send them by default (a job title,
# addresses, phone numbers), and a sync should not fail over them, so they are let go.
NOT_KEPT = {
    "nickname", "profileurl", "title", "usertype", "preferredlanguage", "locale", "timezone",
    "password", "phonenumbers", "ims", "photos", "addresses", "entitlements", "roles",
    "x509certificates", "name.formatted", "name.middlename", "name.honorificprefix",
    "name.honorificsuffix", "displayname", "groups",
}  # fmt: skip
ENTERPRISE_NOT_KEPT = {"employeenumber", "costcenter", "organization", "division", "department"}


def _ops(operations: Any) -> list[tuple[str, str, Any]]:
    """(op, path, value) for each attribute an operation touches, paths lowercased, without
    the core schema's URN; an operation with no path is one per attribute of its value."""
    if not isinstance(operations, list):
        raise exceptions.BadRequestError("Operations must be a list.", scim_type="invalidSyntax")
    found = []
    for operation in operations:
        if not isinstance(operation, dict):
            raise exceptions.BadRequestError("Bad operation.", scim_type="invalidSyntax")
        op = str(operation.get("op", "")).lower()
        if op not in ("add", "remove", "replace"):
            raise exceptions.BadRequestError(f"Unknown op {op!r}.", scim_type="invalidSyntax")
        path, value = operation.get("path"), operation.get("value")
        if not path:
            if op == "remove" or not isinstance(value, dict):
                raise exceptions.BadRequestError("A path is needed.", scim_type="noTarget")
            found += [(op, _flat(key), item) for key, item in _flatten(value)]
        elif _flat(path) == "enterprise:" and isinstance(value, dict):
            found += [
                (op, "enterprise:" + key.lower(), item)
                for key, item in value.items()
                if key != "schemas"
            ]
        else:
            found.append((op, _flat(path), value))
    return found


def _flatten(value: dict, prefix: str = "") -> list[tuple[str, Any]]:
    pairs = []
    for key, item in value.items():
        if key == "schemas":
            continue
        if key.lower() == ENTERPRISE_USER.lower() and isinstance(item, dict):
            pairs += _flatten(item, ENTERPRISE_USER + ":")
        elif key.lower() == "name" and isinstance(item, dict) and not prefix:
            pairs += [(f"name.{sub}", sub_value) for sub, sub_value in item.items()]
        else:
            pairs.append((prefix + key, item))
    return pairs


def _flat(path: str) -> str:
    path = path.strip().lower()
    if path.startswith(USER.lower() + ":"):
        path = path[len(USER) + 1 :]
    if path == ENTERPRISE_USER.lower():
        return "enterprise:"
    if path.startswith(ENTERPRISE_USER.lower() + ":"):
        path = "enterprise:" + path[len(ENTERPRISE_USER) + 1 :]
    return path


def _not_kept(path: str) -> bool:
    head = path.split("[")[0]
    if head.startswith("enterprise:"):
        return head[len("enterprise:") :].split(".")[0] in ENTERPRISE_NOT_KEPT
    return head in NOT_KEPT or head.split(".")[0] in NOT_KEPT


def _bool(value: Any) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise exceptions.BadRequestError("active is true or false.", scim_type="invalidValue")
    return value


def _email(adapter: Any, value: Any) -> str:
    if isinstance(value, str):
        value = [{"value": value, "primary": True}]
    return adapter.email_from(value)


def user_operations(adapter: Any, operations: Any) -> PersonChange:
    change = PersonChange()
    for op, path, value in _ops(operations):
        removing = op == "remove"
        if path == "active":
            change.active = True if removing else _bool(value)
        elif path == "username":
            if removing:
                raise exceptions.BadRequestError("userName is required.", scim_type="mutability")
            change.username = str(value)
        elif path == "name" and removing:
            change.first_name = change.last_name = ""
        elif path in ("name.givenname", "name.familyname"):
            attr = "first_name" if path == "name.givenname" else "last_name"
            setattr(change, attr, "" if removing else str(value or ""))
        elif path == "name" and isinstance(value, dict):
            change.first_name = str(value.get("givenName", adapter.obj.first_name) or "")
            change.last_name = str(value.get("familyName", adapter.obj.last_name) or "")
        elif path.startswith("emails"):
            if removing:
                raise exceptions.BadRequestError(
                    "The email is the person's sign-in: replace it, never remove it.",
                    scim_type="mutability",
                )
            change.email = _email(adapter, value)
        elif path == "externalid":
            change.external_id = None if removing else (str(value) if value else None)
        elif path == "enterprise:" and removing:
            change.manager = None
        elif path.startswith("enterprise:manager"):
            change.manager = None if removing else adapter._manager(value)
        elif path == "enterprise:level":
            change.level = None if removing else str(value or "")
        elif _not_kept(path):
            continue  # made from other fields, kept elsewhere, or not kept: nothing to store
        else:
            raise exceptions.BadRequestError(f"No attribute {path!r}.", scim_type="invalidPath")
    return change


def group_operations(operations: Any) -> tuple[Any, list[int], list[int], list[int] | None, Any]:
    """(new name or UNSET, user ids to add, user ids to remove, the whole membership when an
    operation replaces it (else None), the new externalId or UNSET)."""
    rename: Any = UNSET
    external_id: Any = UNSET
    add: list[int] = []
    remove: list[int] = []
    whole: list[int] | None = None
    for op, path, value in _ops(operations):
        if path == "displayname":
            if op == "remove" or not value:
                raise exceptions.BadRequestError("displayName is required.", scim_type="mutability")
            rename = str(value)
        elif path == "members" and op == "remove" and value is None:
            whole, add, remove = [], [], []  # RFC 7644 3.5.2.2: no value, every member goes
        elif path == "members" and op == "replace":
            whole, add, remove = member_ids(value if isinstance(value, list) else [value]), [], []
        elif path == "members":
            ids = member_ids(value if isinstance(value, list) else [value])
            (remove if op == "remove" else add).extend(ids)
        elif path.startswith("members[") and op == "remove":
            remove.extend(member_ids([{"value": _filter_value(path)}]))
        elif path == "externalid":
            external_id = None if op == "remove" else (str(value) if value else None)
        else:
            raise exceptions.BadRequestError(f"No attribute {path!r}.", scim_type="invalidPath")
    return rename, add, remove, whole, external_id


def _filter_value(path: str) -> str:
    # members[value eq "42"]: the one filter providers send for a member's removal
    inside = path[path.index("[") + 1 : path.rindex("]")]
    parts = inside.split(None, 2)
    if len(parts) != 3 or parts[0] != "value" or parts[1] != "eq":
        raise exceptions.BadRequestError("Unsupported member filter.", scim_type="invalidFilter")
    return parts[2].strip('"')


def member_ids(members: list) -> list[int]:
    ids = []
    for member in members:
        value = str(member.get("value", "")) if isinstance(member, dict) else ""
        if not value.isdigit():
            raise exceptions.BadRequestError(f"No user {value!r}.", scim_type="invalidValue")
        ids.append(int(value))
    return ids
