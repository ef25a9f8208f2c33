"""A SCIM client for the tests: Django's test client with a bearer token and SCIM's type."""

import json

from provisioning.services import scim_token_create
from tests.factories import UserFactory

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def token(name: str = "okta") -> str:
    admin = UserFactory(username=f"root-{name}@example.com", is_staff=True, is_superuser=True)
    return scim_token_create(name=name, created_by=admin)[1]


class Scim:
    def __init__(self, client, raw_token: str):
        self.client, self.auth = client, {"HTTP_AUTHORIZATION": f"Bearer {raw_token}"}

    def _send(self, method: str, path: str, body=None, **extra):
        kwargs = {"content_type": "application/scim+json", **self.auth, **extra}
        if body is not None:
            kwargs["data"] = json.dumps(body)
        return getattr(self.client, method)(f"/scim/v2/{path}", **kwargs)

    def get(self, path: str, **params):
        return self.client.get(f"/scim/v2/{path}", params, **self.auth)

    def post(self, path: str, body: dict):
        return self._send("post", path, body)

    def put(self, path: str, body: dict):
        return self._send("put", path, body)

    def patch(self, path: str, *operations: dict):
        return self._send("patch", path, {"schemas": [PATCH_OP], "Operations": list(operations)})

    def delete(self, path: str):
        return self._send("delete", path)


def user_doc(email: str, *, given="Ada", family="Lovelace", **extension) -> dict:
    doc = {
        "schemas": [USER_SCHEMA, *([ENTERPRISE] if extension else [])],
        "userName": email,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"value": email, "primary": True, "type": "work"}],
        "active": True,
    }
    if extension:
        doc[ENTERPRISE] = extension
    return doc
