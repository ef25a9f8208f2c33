"""The schemas /Schemas publishes: django-scim2's RFC 7643 ones, cut down to the attributes
Allot keeps, so that a client (or a compliance checker) is never told we store a phone number
or a photo that we would silently drop."""

import copy

from django_scim.schemas import ALL

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

KEPT = {
    USER: {
        "userName": None,
        "name": {"givenName", "familyName"},
        "displayName": None,
        "active": None,
        "emails": {"value"},  # one address, the sign-in's
        "groups": {"value", "$ref", "display"},
    },
    GROUP: {"displayName": None, "members": {"value", "$ref", "type"}},
    ENTERPRISE_USER: {"manager": {"value", "$ref"}},
}
# Made from other fields here: a client reads them, never sets them.
READ_ONLY = {(USER, "displayName"), (USER, "groups")}
# A team needs a name (RFC 7643's schema leaves displayName optional).
REQUIRED = {(GROUP, "displayName")}


SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"


def _cut(schema: dict) -> dict:
    schema = copy.deepcopy(schema)
    schema.setdefault("schemas", [SCHEMA])
    schema.setdefault("meta", {"resourceType": "Schema", "location": f"/Schemas/{schema['id']}"})
    kept = KEPT.get(schema["id"])
    if kept is None:
        return schema
    attributes = []
    for attribute in schema["attributes"]:
        if attribute["name"] not in kept:
            continue
        subs = kept[attribute["name"]]
        if subs is not None:
            attribute["subAttributes"] = [
                sub for sub in attribute.get("subAttributes", []) if sub["name"] in subs
            ]
            for sub in attribute["subAttributes"]:
                if (schema["id"], f"{attribute['name']}.{sub['name']}") in READ_ONLY:
                    sub["mutability"] = "readOnly"
        if (schema["id"], attribute["name"]) in READ_ONLY:
            attribute["mutability"] = "readOnly"
        if (schema["id"], attribute["name"]) in REQUIRED:
            attribute["required"] = True
        attributes.append(attribute)
    schema["attributes"] = attributes
    return schema


SCHEMAS = [_cut(schema) for schema in ALL]


def schemas() -> list[dict]:
    return SCHEMAS
