"""The sign-in pages: the single sign-on button when configured, ALLOT_PASSWORD_LOGIN=false, the
refusal page, and the password-reset pages in Allot's look."""

import os
import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
from axes.models import AccessAttempt
from django.core import mail

from people.oidc import NOT_AN_EMPLOYEE, REFUSAL_SESSION_KEY
from tests.factories import EmployeeFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sso(settings):
    settings.ALLOT_OIDC_ENABLED = True
    settings.ALLOT_OIDC_NAME = "Okta"
    settings.OIDC_RP_CLIENT_ID = "allot"
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = "https://idp.example.com/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://idp.example.com/token"
    settings.OIDC_OP_USER_ENDPOINT = "https://idp.example.com/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = "https://idp.example.com/jwks"
    return settings


@pytest.fixture
def passwords_off(sso):
    sso.ALLOT_PASSWORD_LOGIN = False
    sso.AUTHENTICATION_BACKENDS = [
        b for b in sso.AUTHENTICATION_BACKENDS if not b.endswith(".ModelBackend")
    ]
    return sso


def test_without_a_provider_the_page_has_no_button_and_sign_on_is_not_there(client):
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with" not in page and 'name="password"' in page
    assert "Forgot your password?" in page
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=c&state=s").status_code == 404


def test_with_a_provider_the_button_starts_its_flow(client, sso):
    page = client.get("/accounts/login/?next=/requests/").content.decode()
    assert "Sign in with Okta" in page and 'name="password"' in page
    assert 'href="/oidc/authenticate/?next=/requests/"' in page
    response = client.get("/oidc/authenticate/?next=/requests/")
    assert response.status_code == 302
    target = response["Location"]
    assert target.startswith("https://idp.example.com/authorize?")
    for part in ["client_id=allot", "code_challenge_method=S256", "nonce=", "state="]:
        assert part in target
    admin_page = client.get("/admin/login/?next=/admin/").content.decode()
    assert "Sign in with Okta" in admin_page and 'name="password"' in admin_page


def test_password_login_off_hides_the_forms_and_refuses_a_post(client, passwords_off):
    user = UserFactory(username="ada@example.com")
    EmployeeFactory(user=user)
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with Okta" in page
    assert 'name="password"' not in page and "Forgot your password?" not in page
    response = client.post("/accounts/login/", {"username": "ada@example.com", "password": "pw"})
    assert response.status_code == 403
    assert "Password sign-in is switched off here: sign in with Okta." in response.content.decode()
    assert "_auth_user_id" not in client.session

    admin_page = client.get("/admin/login/?next=/admin/").content.decode()
    assert 'name="password"' not in admin_page and "Sign in with Okta" in admin_page
    response = client.post("/admin/login/", {"username": "ada@example.com", "password": "pw"})
    assert "Password sign-in is switched off here" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_password_login_off_refuses_the_password_pages(client, passwords_off):
    UserFactory(username="ada@example.com")
    for path in ["/accounts/password_reset/", "/accounts/reset/MQ/set-password/"]:
        assert client.get(path).status_code == 403
    response = client.post("/accounts/password_reset/", {"email": "ada@example.com"})
    assert response.status_code == 403 and mail.outbox == []
    client.force_login(UserFactory())
    assert client.get("/accounts/password_change/").status_code == 403


def _settings_error(**variables: str) -> str:
    env = {**os.environ, **variables, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    result = subprocess.run(  # noqa: S603 (our interpreter, fixed arguments)
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    return result.stderr


def test_settings_refuse_passwords_off_without_a_provider_or_a_half_configured_one():
    stderr = _settings_error(ALLOT_PASSWORD_LOGIN="false", OIDC_RP_CLIENT_ID="")
    assert "leaves no way to sign in" in stderr
    stderr = _settings_error(OIDC_RP_CLIENT_ID="allot", OIDC_OP_TOKEN_ENDPOINT="https://idp/t")
    assert "OIDC_RP_CLIENT_SECRET, OIDC_OP_AUTHORIZATION_ENDPOINT, OIDC_OP_USER_ENDPOINT" in stderr


def test_the_refusal_page_says_who_was_refused_and_why(client, sso):
    session = client.session
    session[REFUSAL_SESSION_KEY] = {"reason": NOT_AN_EMPLOYEE, "email": "x@other.example"}
    session.save()
    response = client.get("/accounts/sign-on/refused/")
    page = response.content.decode()
    assert response.status_code == 403
    assert "Not an employee here" in page and "x@other.example" in page
    assert 'class="brand"' in page  # the site's own page, not a bare error


def test_a_failed_callback_lands_on_the_refusal_page(client, sso):
    response = client.get("/oidc/callback/?error=access_denied&state=s")
    assert response.status_code == 302 and response["Location"] == "/accounts/sign-on/refused/"
    page = client.get(response["Location"]).content.decode()
    assert "Single sign-on did not finish" in page


def test_the_password_reset_pages_carry_allots_look(client):
    user = UserFactory(username="ada@example.com", email="ada@example.com")
    form = client.get("/accounts/password_reset/").content.decode()
    assert 'class="brand"' in form and "Reset your password" in form
    assert "Django administration" not in form
    response = client.post("/accounts/password_reset/", {"email": "ada@example.com"}, follow=True)
    assert "Check your email" in response.content.decode()
    [message] = mail.outbox
    assert message.subject == "Your Allot password" and "Allot password of ada@example.com" in (
        message.body
    )
    link = re.search(r"/accounts/reset/\S+/", message.body).group(0)
    page = client.get(link, follow=True)
    assert "Choose a new password" in page.content.decode()
    done = client.post(
        page.redirect_chain[-1][0],
        {"new_password1": "Long-enough-4242", "new_password2": "Long-enough-4242"},
        follow=True,
    ).content.decode()
    assert "Your password is set" in done and 'class="brand"' in done
    user.refresh_from_db()
    assert user.check_password("Long-enough-4242")
    stale = client.get(link, follow=True).content.decode()
    assert "This link no longer works" in stale


def _callback(client, monkeypatch, email: str):
    """The browser's round trip with the provider's answers stubbed: start, then the callback."""
    start = client.get("/oidc/authenticate/")
    query = parse_qs(urlsplit(start["Location"]).query)
    base = "mozilla_django_oidc.auth.OIDCAuthenticationBackend"
    monkeypatch.setattr(f"{base}.get_token", lambda self, payload: {"id_token": "i"})
    monkeypatch.setattr(
        f"{base}.verify_token",
        lambda self, token, **kw: {"sub": "s", "aud": "allot", "nonce": query["nonce"][0]},
    )
    monkeypatch.setattr(
        f"{base}.get_userinfo",
        lambda self, *args: {"sub": "s", "email": email, "email_verified": True},
    )
    return client.get(f"/oidc/callback/?code=c&state={query['state'][0]}")


def test_refused_sign_ons_do_not_lock_the_address_out(client, sso, monkeypatch):
    """The lockout counts password failures per username and address; the provider's callback
    has no username, so counting it would lock everyone behind one address out of it."""
    sso.AXES_ENABLED = True
    sso.AXES_FAILURE_LIMIT = 2
    EmployeeFactory(user=UserFactory(username="ada@example.com"))
    for _ in range(4):
        refused = _callback(client, monkeypatch, "stranger@example.com")
        assert refused["Location"] == "/accounts/sign-on/refused/"
    assert "Not an employee here" in client.get(refused["Location"]).content.decode()
    assert not AccessAttempt.objects.exists()
    signed_in = _callback(client, monkeypatch, "ada@example.com")
    assert signed_in["Location"] == "/"
    assert client.session["_auth_user_backend"] == "people.oidc.EmployeeOIDCBackend"
