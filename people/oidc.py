"""Sign-in with OpenID Connect: the identity provider says who someone is, Allot says whether
they work here and what they may do.

mozilla-django-oidc runs the flow (state, nonce, PKCE, the code exchange, the ID token's
signature against the provider's JWKS). This backend decides who that is: the one active
employee whose sign-in has the provider's email, and only when the provider says that email is
verified. Nobody is ever created. HR and Finance follow the provider's groups only where the
administrator names the mapping (OIDC_GROUP_HR, OIDC_GROUP_FINANCE); staff status follows those
two roles and nothing else, and no claim ever touches is_superuser.
"""

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from people.roles import FINANCE, HR, STAFF_ROLES

logger = logging.getLogger(__name__)

# Why a sign-in through the provider was refused: kept in the session for the refusal page.
REFUSAL_SESSION_KEY = "allot_sign_on_refused"
NOT_AN_EMPLOYEE = "not_an_employee"
EMAIL_UNVERIFIED = "email_unverified"
AMBIGUOUS = "ambiguous"


def oidc_enabled() -> bool:
    return bool(getattr(settings, "ALLOT_OIDC_ENABLED", False))


def password_login_enabled() -> bool:
    return bool(getattr(settings, "ALLOT_PASSWORD_LOGIN", True))


def role_mapping() -> dict[str, set[str]]:
    """Each Allot role the administrator mapped, with the provider's group values that give it."""
    configured = {HR: settings.OIDC_GROUP_HR, FINANCE: settings.OIDC_GROUP_FINANCE}
    return {role: set(values) for role, values in configured.items() if values}


def claimed_groups(claims: dict[str, Any]) -> set[str]:
    """The provider's group values, as strings: a list of them or a single one."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM)
    if isinstance(value, str):
        return {value}
    if isinstance(value, list | tuple):
        return {item for item in value if isinstance(item, str)}
    return set()


def email_is_verified(claims: dict[str, Any]) -> bool:
    """True only when the provider says so: a boolean true (or the string some send) in
    email_verified, or in the claim OIDC_EMAIL_VERIFIED_CLAIM names (Entra ID's xms_edov)."""
    verified = claims.get(settings.OIDC_EMAIL_VERIFIED_CLAIM)
    return verified is True or (isinstance(verified, str) and verified.lower() == "true")


@transaction.atomic
def sign_on_roles_sync(user: AbstractBaseUser, claims: dict[str, Any]) -> list[str]:
    """Make the mapped roles match the provider's groups; returns what changed ("+HR", "-HR").

    Only mapped roles move: with no mapping nothing does. Staff status is what the roles need:
    set when the person holds HR or Finance, cleared only when this sign-in took the last of
    them away from someone who is not a superuser and holds no permission of their own.
    is_superuser is never read from or written by anything here."""
    mapping = role_mapping()
    if not mapping:
        return []
    groups = claimed_groups(claims)
    held = set(user.groups.values_list("name", flat=True))
    changes = []
    for role, values in mapping.items():
        wanted = bool(groups & values)
        if wanted and role not in held:
            user.groups.add(Group.objects.get_or_create(name=role)[0])
            changes.append(f"+{role}")
        elif not wanted and role in held:
            user.groups.remove(Group.objects.get(name=role))
            changes.append(f"-{role}")
    has_staff_role = user.groups.filter(name__in=STAFF_ROLES).exists()
    removed = any(change.startswith("-") for change in changes)
    if has_staff_role and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    elif (
        removed
        and not has_staff_role
        and user.is_staff
        and not user.is_superuser
        and not user.user_permissions.exists()
    ):
        user.is_staff = False
        user.save(update_fields=["is_staff"])
    if changes:
        logger.info("sign-on roles for user %s: %s", user.pk, " ".join(changes))
    return changes


def axes_skips_sign_on(request: HttpRequest, credentials: dict | None) -> bool:
    """django-axes counts password failures; the provider's callback is none (see settings)."""
    return request.path == reverse("oidc_authentication_callback")


class EmployeeOIDCBackend(OIDCAuthenticationBackend):
    """The provider's verified email to the one active employee with it; never a new user."""

    def __init__(self, *args, **kwargs):
        # Django builds every backend on each authenticate(): unconfigured, this one stays inert
        # instead of refusing to exist (the library's constructor needs the endpoints).
        self.enabled = oidc_enabled()
        if self.enabled:
            super().__init__(*args, **kwargs)
        else:
            self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        # Only the callback view's call (it passes the nonce): a password form's POST that
        # happens to carry ?code=&state= is not a sign-on.
        if not self.enabled or "nonce" not in kwargs or "username" in kwargs:
            return None
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id):
        # Django's rule, not the library's: an account switched off (a leaver) is signed out.
        return ModelBackend.get_user(self, user_id)

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if "aud" in payload and self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The ID token was issued to another client.")
        issuer = settings.OIDC_OP_ISSUER
        if issuer and payload.get("iss") != issuer:
            raise SuspiciousOperation("The ID token comes from another issuer.")
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        """The userinfo endpoint's claims over the signed ID token's (some providers put groups
        only in the ID token); both must be about the same subject."""
        userinfo = super().get_userinfo(access_token, id_token, payload)
        if userinfo.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("userinfo is about another subject than the ID token.")
        return {**payload, **userinfo}

    def filter_users_by_claims(self, claims):
        email = (claims.get("email") or "").strip()
        if not email:
            return self.UserModel.objects.none()
        return self.UserModel.objects.filter(
            email__iexact=email, is_active=True, employee__is_active=True
        )

    def verify_claims(self, claims) -> bool:
        return bool(claims.get("email")) and email_is_verified(claims)

    def create_user(self, claims):
        return None  # Allot never makes an account from a sign-in; HR adds employees

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        if not self.verify_claims(claims):
            return self._refuse(EMAIL_UNVERIFIED, claims)
        users = list(self.filter_users_by_claims(claims)[:2])
        if len(users) != 1:
            return self._refuse(AMBIGUOUS if users else NOT_AN_EMPLOYEE, claims)
        return self.update_user(users[0], claims)

    def update_user(self, user, claims):
        sign_on_roles_sync(user, claims)
        return user

    def _refuse(self, reason: str, claims: dict[str, Any]) -> None:
        self.request.session[REFUSAL_SESSION_KEY] = {
            "reason": reason,
            "email": str(claims.get("email") or "")[:254],
        }
        logger.info("sign-on refused: %s", reason)
        return None
