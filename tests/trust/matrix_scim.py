"""The permission matrix's rows for /scim/v2/: only a live SCIM bearer token gets in, whoever
sends it; a session (a superuser's included) or an API key without one is 401, and so is a
revoked token."""

from django.contrib.auth import get_user_model

from provisioning.models import ScimToken
from provisioning.services import scim_token_create, scim_token_revoke
from tests.trust.matrix import Row, cells

SCIM = "SCIM provisioning (/scim/v2/, bearer tokens)"
NEW_USER = "scim-matrix@example.com"


def scim_tokens(superuser) -> dict[str, str]:
    _, valid = scim_token_create(name="matrix", created_by=superuser)
    revoked_token, revoked = scim_token_create(name="matrix-revoked", created_by=superuser)
    scim_token_revoke(token=revoked_token)
    assert ScimToken.objects.filter(revoked=True).count() == 1
    return {"valid": valid, "revoked": revoked}


def _bearer(which: str):
    return lambda w: {"HTTP_AUTHORIZATION": f"Bearer {w['scim'][which]}"}


def _new_user() -> dict:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": NEW_USER,
        "emails": [{"value": NEW_USER}],
    }


def _made(world) -> bool:
    return get_user_model().objects.filter(username=NEW_USER).exists()


def scim_rows() -> list[Row]:
    rows = []
    for label, headers, status in (
        ("no token: each role's own session or key", None, 401),
        ("revoked token", _bearer("revoked"), 401),
        ("valid token", _bearer("valid"), 200),
    ):
        rows.append(
            Row(
                SCIM,
                "/scim/v2/Users",
                "GET",
                lambda w: "/scim/v2/Users",
                cells(status),
                headers=headers,
                notes=label,
            )
        )
    for label, headers, status in (
        ("no token", None, 401),
        ("revoked token", _bearer("revoked"), 401),
        ("valid token", _bearer("valid"), 201),
    ):
        rows.append(
            Row(
                SCIM,
                "/scim/v2/Users (a new person)",
                "POST",
                lambda w: "/scim/v2/Users",
                cells(status),
                data=lambda w: _new_user(),
                json=True,
                headers=headers,
                effect=_made,
                notes=label,
            )
        )
    return rows
