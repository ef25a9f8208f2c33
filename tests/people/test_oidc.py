"""Single sign-on's rules without a provider: who a verified email is, what roles the mapping
moves, and that nothing from the provider makes a superuser (the browser test runs the flow
against a real provider: tests/browser/test_sign_on.py)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import RequestFactory

from people.oidc import (
    EMAIL_UNVERIFIED,
    NOT_AN_EMPLOYEE,
    REFUSAL_SESSION_KEY,
    EmployeeOIDCBackend,
    axes_skips_sign_on,
    sign_on_roles_sync,
)
from people.roles import FINANCE, HR
from tests.factories import EmployeeFactory, UserFactory, hr_user

pytestmark = pytest.mark.django_db
User = get_user_model()

CRAFTED = {
    "is_superuser": True,
    "is_staff": True,
    "superuser": True,
    "role": "admin",
    "roles": ["admin", "superuser"],
    "groups": ["admin", "superuser", "Administrators", HR, FINANCE, "staff"],
}


@pytest.fixture
def oidc(settings):
    settings.ALLOT_OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = "allot"
    settings.OIDC_RP_CLIENT_SECRET = "secret"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = "http://127.0.0.1:9/auth"
    settings.OIDC_OP_TOKEN_ENDPOINT = "http://127.0.0.1:9/token"
    settings.OIDC_OP_USER_ENDPOINT = "http://127.0.0.1:9/me"
    settings.OIDC_OP_JWKS_ENDPOINT = "http://127.0.0.1:9/jwks"
    return settings


def sign_on(claims: dict, monkeypatch) -> tuple[object, dict]:
    """The backend's decision for these provider claims (the token exchange stubbed out)."""
    backend = EmployeeOIDCBackend()
    request = RequestFactory().get("/oidc/callback/")
    request.session = {}
    backend.request = request
    payload = {"sub": claims.get("sub", "s-1"), "aud": "allot"}
    monkeypatch.setattr(
        "mozilla_django_oidc.auth.OIDCAuthenticationBackend.get_userinfo",
        lambda self, *args: {"sub": payload["sub"], **claims},
    )
    return backend.get_or_create_user("access", "id", payload), request.session


def test_a_verified_email_is_its_employee_whatever_its_case(oidc, monkeypatch):
    employee = EmployeeFactory(user=UserFactory(username="ada@example.com"))
    user, _ = sign_on({"email": "Ada@Example.COM", "email_verified": True}, monkeypatch)
    assert user == employee.user


@pytest.mark.parametrize("verified", [False, None, "false", 1])
def test_an_unverified_email_is_refused(oidc, monkeypatch, verified):
    EmployeeFactory(user=UserFactory(username="ada@example.com"))
    claims = {"email": "ada@example.com"}
    if verified is not None:
        claims["email_verified"] = verified
    user, session = sign_on(claims, monkeypatch)
    assert user is None
    assert session[REFUSAL_SESSION_KEY]["reason"] == EMAIL_UNVERIFIED


def test_an_unknown_email_is_refused_and_nobody_is_created(oidc, monkeypatch):
    before = User.objects.count()
    user, session = sign_on({"email": "stranger@example.com", "email_verified": True}, monkeypatch)
    assert user is None
    assert session[REFUSAL_SESSION_KEY] == {
        "reason": NOT_AN_EMPLOYEE,
        "email": "stranger@example.com",
    }
    assert User.objects.count() == before
    assert EmployeeOIDCBackend().create_user({"email": "stranger@example.com"}) is None


def test_a_sign_in_without_an_employee_or_a_leaver_is_not_an_employee(oidc, monkeypatch):
    UserFactory(username="root@example.com", is_superuser=True, is_staff=True)
    EmployeeFactory(user=UserFactory(username="gone@example.com"), is_active=False)
    EmployeeFactory(user=UserFactory(username="off@example.com", is_active=False))
    for email in ["root@example.com", "gone@example.com", "off@example.com"]:
        user, session = sign_on({"email": email, "email_verified": True}, monkeypatch)
        assert user is None
        assert session[REFUSAL_SESSION_KEY]["reason"] == NOT_AN_EMPLOYEE


def test_userinfo_about_another_subject_is_refused(oidc, monkeypatch):
    EmployeeFactory(user=UserFactory(username="ada@example.com"))
    backend = EmployeeOIDCBackend()
    monkeypatch.setattr(
        "mozilla_django_oidc.auth.OIDCAuthenticationBackend.get_userinfo",
        lambda self, *args: {"sub": "someone-else", "email": "ada@example.com"},
    )
    with pytest.raises(Exception, match="another subject"):
        backend.get_userinfo("access", "id", {"sub": "s-1"})


def test_an_id_token_for_another_client_or_issuer_is_refused(oidc, monkeypatch):
    oidc.OIDC_OP_ISSUER = "http://127.0.0.1:9"
    backend = EmployeeOIDCBackend()
    for payload, message in [
        ({"aud": "another-app", "iss": "http://127.0.0.1:9"}, "another client"),
        ({"aud": ["allot"], "iss": "http://evil.example"}, "another issuer"),
    ]:
        monkeypatch.setattr(
            "mozilla_django_oidc.auth.OIDCAuthenticationBackend.verify_token",
            lambda self, token, payload=payload, **kwargs: payload,
        )
        with pytest.raises(Exception, match=message):
            backend.verify_token("token", nonce="n")


def test_the_backend_is_inert_until_configured_and_ignores_password_posts(oidc, settings):
    settings.ALLOT_OIDC_ENABLED = False
    request = RequestFactory().get("/oidc/callback/?code=c&state=s")
    assert EmployeeOIDCBackend().authenticate(request, nonce="n", code_verifier="v") is None
    settings.ALLOT_OIDC_ENABLED = True
    post = RequestFactory().post("/accounts/login/?code=c&state=s")
    assert EmployeeOIDCBackend().authenticate(post, username="a", password="b") is None


def test_a_switched_off_account_is_signed_out(oidc):
    user = UserFactory(is_active=False)
    assert EmployeeOIDCBackend().get_user(user.pk) is None
    assert EmployeeOIDCBackend().get_user(UserFactory().pk) is not None


def test_without_a_mapping_roles_are_left_alone_and_crafted_claims_do_nothing(oidc):
    hr = hr_user(username="hr@example.com")
    plain = UserFactory(username="plain@example.com")
    for user in (hr, plain):
        assert sign_on_roles_sync(user, CRAFTED) == []
        assert sign_on_roles_sync(user, {"groups": []}) == []
    hr.refresh_from_db()
    plain.refresh_from_db()
    assert list(hr.groups.values_list("name", flat=True)) == [HR] and hr.is_staff
    assert not plain.groups.exists()
    assert (plain.is_staff, plain.is_superuser, hr.is_superuser) == (False, False, False)


def test_a_mapping_adds_and_removes_the_role_and_the_staff_it_needs(oidc):
    oidc.OIDC_GROUP_HR = ["allot-hr"]
    oidc.OIDC_GROUP_FINANCE = ["allot-finance", "Finance Team"]
    user = UserFactory()
    assert sign_on_roles_sync(user, {"groups": ["allot-hr", "Finance Team"]}) == ["+HR", "+Finance"]
    user.refresh_from_db()
    assert set(user.groups.values_list("name", flat=True)) == {HR, FINANCE} and user.is_staff
    assert sign_on_roles_sync(user, {"groups": "allot-hr"}) == ["-Finance"]
    assert sign_on_roles_sync(user, {"groups": ["engineering"]}) == ["-HR"]
    user.refresh_from_db()
    assert not user.groups.exists() and not user.is_staff and not user.is_superuser


def test_a_mapping_never_makes_a_superuser_and_keeps_other_groups(oidc):
    oidc.OIDC_GROUP_HR = ["allot-hr"]
    user = UserFactory()
    user.groups.add(Group.objects.get(name="Managers"))
    assert sign_on_roles_sync(user, {**CRAFTED, "groups": [*CRAFTED["groups"], "allot-hr"]}) == [
        "+HR"
    ]
    user.refresh_from_db()
    assert set(user.groups.values_list("name", flat=True)) == {HR, "Managers"}
    assert user.is_staff and not user.is_superuser
    # HR's own group name sent as a claim is not the mapped value: it gives nothing
    other = UserFactory()
    assert sign_on_roles_sync(other, CRAFTED) == []
    other.refresh_from_db()
    assert not other.is_staff and not other.is_superuser


def test_a_superusers_access_is_not_the_providers_to_take(oidc):
    oidc.OIDC_GROUP_HR = ["allot-hr"]
    root = UserFactory(is_staff=True, is_superuser=True)
    root.groups.add(Group.objects.get(name=HR))
    assert sign_on_roles_sync(root, {"groups": []}) == ["-HR"]
    root.refresh_from_db()
    assert root.is_superuser and root.is_staff


def test_the_lockout_does_not_count_the_providers_callback():
    assert axes_skips_sign_on(RequestFactory().get("/oidc/callback/"), {})
    assert not axes_skips_sign_on(RequestFactory().post("/accounts/login/"), {"username": "a"})


def test_the_verified_claim_can_be_named_for_providers_without_email_verified(oidc, monkeypatch):
    oidc.OIDC_EMAIL_VERIFIED_CLAIM = "xms_edov"
    employee = EmployeeFactory(user=UserFactory(username="ada@example.com"))
    claims = {"email": "ada@example.com", "email_verified": True}
    assert sign_on(claims, monkeypatch)[0] is None  # the named claim is the one that counts
    assert sign_on({**claims, "xms_edov": True}, monkeypatch)[0] == employee.user
