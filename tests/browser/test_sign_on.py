"""Single sign-on in a real browser against a real OpenID provider on 127.0.0.1 (panva's certified
oidc-provider for Node.js, tests/oidc_provider/, installed from its package-lock.json): an
employee lands on their dashboard, an unknown email is refused, the mapped HR group reaches the
admin, and crafted claims make nobody a superuser."""

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from people.management.commands.oidc_endpoints import discovery_settings
from people.roles import HR
from tests.browser.conftest import needs_chromium
from tests.factories import EmployeeFactory

PROVIDER_DIR = Path(__file__).resolve().parent.parent / "oidc_provider"
NODE, NPM = shutil.which("node"), shutil.which("npm")
needs_node = pytest.mark.skipif(not (NODE and NPM), reason="Node.js and npm are not installed")

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    needs_chromium,
    needs_node,
]

CRAFTED = {
    "email_verified": True,
    "is_superuser": True,
    "is_staff": True,
    "roles": ["admin", "superuser"],
    "groups": ["admin", "superuser", "Administrators", "HR", "Finance"],
}
ACCOUNTS = {
    "ada@example.com": {"email_verified": True, "groups": ["engineering"]},
    "stranger@example.com": {"email_verified": True},
    "unverified@example.com": {"email_verified": False},
    "hr@example.com": {"email_verified": True, "groups": ["engineering", "allot-hr"]},
    "mallory@example.com": CRAFTED,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _discovery(issuer: str, process: subprocess.Popen, log: Path) -> dict:
    for _ in range(100):
        if process.poll() is not None:
            raise RuntimeError(f"the test provider exited: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration") as answer:  # noqa: S310 (our own provider on 127.0.0.1)
                return json.load(answer)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the test provider did not answer")


@pytest.fixture(scope="module")
def provider(live_server, tmp_path_factory):
    """The provider on a free port, its client's redirect at this live server; killed after."""
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").exists():
        subprocess.run(  # noqa: S603 (npm, fixed arguments, the committed lock file)
            [NPM, "ci", "--prefix", str(PROVIDER_DIR), "--no-audit", "--no-fund"],
            check=True,
            timeout=300,
        )
    port = _free_port()
    log = tmp_path_factory.mktemp("oidc_provider") / "provider.log"  # a pipe could fill and block
    with log.open("w") as out:  # the child holds its own copy of the file
        process = subprocess.Popen(  # noqa: S603 (node and our provider script)
            [NODE, str(PROVIDER_DIR / "provider.js")],
            cwd=PROVIDER_DIR,
            env={
                **os.environ,
                "PORT": str(port),
                "REDIRECT_URI": f"{live_server.url}/oidc/callback/",
                "ACCOUNTS": json.dumps(ACCOUNTS),
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield _discovery(f"http://127.0.0.1:{port}", process, log)
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def sso(settings, provider):
    settings.ALLOT_OIDC_ENABLED = True
    settings.ALLOT_OIDC_NAME = "Test IdP"
    settings.OIDC_RP_CLIENT_ID = "allot"
    settings.OIDC_RP_CLIENT_SECRET = "allot-test-secret"
    for name, value in discovery_settings(provider["issuer"]).items():  # oidc_endpoints's
        setattr(settings, name, value)
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    settings.OIDC_GROUP_HR = ["allot-hr"]
    return settings


def sign_on(browser, live_server, email, *, start="/accounts/login/", shots=None):
    """Click the button, sign in at the provider with this email, and return the page."""
    page = browser.new_context().new_page()
    if shots:
        page.goto(f"{live_server.url}/accounts/password_reset/")
        page.screenshot(path=f"{shots}/password-reset.png", full_page=True)
    page.goto(f"{live_server.url}{start}")
    if shots:
        page.screenshot(path=f"{shots}/sign-in-page.png", full_page=True)
    page.click("text=Sign in with Test IdP")
    page.wait_for_selector("#email")
    page.fill("#email", email)
    page.click("#continue")
    page.wait_for_url(f"{live_server.url}/**")
    page.wait_for_load_state("networkidle")
    return page


def screenshot_dir() -> str | None:
    return os.environ.get("ALLOT_SCREENSHOT_DIR")


def test_an_employee_lands_on_their_dashboard(browser, live_server, sso):
    EmployeeFactory(user__username="ada", user__email="Ada@Example.com")
    page = sign_on(browser, live_server, "ada@example.com", shots=screenshot_dir())
    assert page.url == f"{live_server.url}/"
    assert page.locator("h1").inner_text().startswith("Your token budget")
    assert page.locator("text=Sign out ada").count() == 1
    user = get_user_model().objects.get(username="ada")
    assert not user.is_staff and not user.groups.filter(name=HR).exists()


def test_an_unknown_email_is_refused_and_no_account_is_made(browser, live_server, sso):
    users = get_user_model().objects.count()
    page = sign_on(browser, live_server, "stranger@example.com")
    assert page.url == f"{live_server.url}/accounts/sign-on/refused/"
    assert page.locator("h1").inner_text() == "Not an employee here"
    assert "stranger@example.com" in page.locator(".refused").inner_text()
    if screenshot_dir():
        page.screenshot(path=f"{screenshot_dir()}/not-an-employee.png", full_page=True)
    assert get_user_model().objects.count() == users
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url  # not signed in

    EmployeeFactory(user__username="unverified@example.com")
    page = sign_on(browser, live_server, "unverified@example.com")
    assert page.locator("h1").inner_text() == "Email not verified"


def test_the_mapped_hr_group_reaches_the_admin(browser, live_server, sso):
    EmployeeFactory(user__username="hr@example.com")
    page = sign_on(browser, live_server, "hr@example.com", start="/admin/")
    assert page.url == f"{live_server.url}/admin/"
    assert page.locator("#site-name").inner_text() == "Allot administration"
    page.goto(f"{live_server.url}/admin/people/employee/")
    assert page.locator("#content h1").inner_text() == "Select employee to change"
    user = get_user_model().objects.get(username="hr@example.com")
    assert user.is_staff and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == [HR]


def test_crafted_claims_make_nobody_a_superuser(browser, live_server, sso):
    EmployeeFactory(user__username="mallory@example.com")
    page = sign_on(browser, live_server, "mallory@example.com")
    assert page.url == f"{live_server.url}/"  # signed in as the employee she is, nothing more
    user = get_user_model().objects.get(username="mallory@example.com")
    assert (user.is_superuser, user.is_staff, user.groups.exists()) == (False, False, False)
    page.goto(f"{live_server.url}/admin/")
    assert "/admin/login/" in page.url
    assert page.locator("text=not authorized to access this page").count() == 1


def test_oidc_endpoints_prints_the_providers_settings(provider, capsys):
    call_command("oidc_endpoints", provider["issuer"])
    lines = capsys.readouterr().out.splitlines()
    assert f"OIDC_OP_ISSUER={provider['issuer']}" in lines
    assert f"OIDC_OP_JWKS_ENDPOINT={provider['jwks_uri']}" in lines
    assert len(lines) == 5


def test_with_passwords_off_single_sign_on_is_the_way_in(browser, live_server, sso):
    sso.ALLOT_PASSWORD_LOGIN = False
    sso.AUTHENTICATION_BACKENDS = [
        b for b in sso.AUTHENTICATION_BACKENDS if not b.endswith(".ModelBackend")
    ]
    EmployeeFactory(user__username="ada@example.com")
    page = browser.new_context().new_page()
    page.goto(f"{live_server.url}/admin/login/")
    assert page.locator("input[name=password]").count() == 0
    if screenshot_dir():
        page.screenshot(path=f"{screenshot_dir()}/admin-sign-in-passwords-off.png")
        page.goto(f"{live_server.url}/accounts/login/")
        page.screenshot(path=f"{screenshot_dir()}/sign-in-passwords-off.png")
    page = sign_on(browser, live_server, "ada@example.com")
    assert page.url == f"{live_server.url}/"
    assert page.locator("input[name=password]").count() == 0
