"""Deployment hardening: CSP, Argon2, sign-in lockout, the health endpoint, PII kept out of logs."""

import io
import logging
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from common.logging import RedactPII, redact
from config.settings import base
from outbox.models import WorkerBeat
from outbox.services import worker_beat_record
from tests.factories import EmployeeFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_web_pages_carry_a_content_security_policy_without_inline_script(client):
    employee = EmployeeFactory()
    client.force_login(employee.user)

    for url in ["/", "/accounts/login/", "/api/v1/docs/"]:
        policy = client.get(url)["Content-Security-Policy"]
        assert "script-src 'self'" in policy, url
        assert "object-src 'none'" in policy
        assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]


def test_api_docs_page_loads_its_script_from_a_file(client):
    client.force_login(EmployeeFactory().user)

    page = client.get("/api/v1/docs/").content.decode()
    script = client.get("/api/v1/docs/?script=")

    assert "<script>" not in page.replace(" ", "")
    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


def test_passwords_are_hashed_with_argon2_outside_tests():
    with override_settings(PASSWORD_HASHERS=base.PASSWORD_HASHERS):
        assert make_password("correct horse").startswith("argon2$")


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_sign_in_is_locked_after_repeated_failures_even_with_the_right_password(client):
    UserFactory(username="target@example.com", password="right-password")

    wrong = [
        client.post("/accounts/login/", {"username": "target@example.com", "password": "nope"})
        for _ in range(3)
    ]
    locked = client.post(
        "/accounts/login/", {"username": "target@example.com", "password": "right-password"}
    )

    assert [r.status_code for r in wrong[:2]] == [200, 200]  # the form again, with its error
    assert locked.status_code == 429
    assert b"Too many sign-in attempts" in locked.content
    assert "_auth_user_id" not in client.session


@override_settings(AXES_ENABLED=True, AXES_FAILURE_LIMIT=3)
def test_admin_sign_in_is_rate_limited_too(client):
    UserFactory(username="boss@example.com", password="right-password", is_staff=True)
    for _ in range(3):
        client.post("/admin/login/", {"username": "boss@example.com", "password": "nope"})

    response = client.post(
        "/admin/login/", {"username": "boss@example.com", "password": "right-password"}
    )

    assert response.status_code == 429


@override_settings(AXES_ENABLED=True)
def test_a_good_sign_in_still_works_with_the_lockout_on(client):
    UserFactory(username="fine@example.com", password="right-password")

    response = client.post(
        "/accounts/login/", {"username": "fine@example.com", "password": "right-password"}
    )

    assert response.status_code == 302
    assert client.session["_auth_user_id"]


@override_settings(AXES_ENABLED=True)
@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("/accounts/login/", b"That email and password did not match."),
        ("/admin/login/", b"Please enter the correct username and password"),
    ],
)
def test_a_username_longer_than_any_account_is_a_normal_failed_sign_in(client, url, refusal):
    # given a real account, for comparison
    UserFactory(username="fine@example.com", password="right-password", is_staff=True)

    # when someone signs in with a 300-character name (axes keeps names in a varchar(255))
    too_long = client.post(url, {"username": "x" * 300, "password": "nope"})
    wrong = client.post(url, {"username": "fine@example.com", "password": "nope"})

    # then they get the form again with the same refusal as a wrong password
    assert (too_long.status_code, wrong.status_code) == (200, 200)
    assert refusal in too_long.content and refusal in wrong.content
    assert "_auth_user_id" not in client.session


def test_healthz_is_liveness_and_asks_nothing_of_the_database_or_broker(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_is_ok_when_database_broker_and_a_worker_answer(client):
    worker_beat_record()  # the relay ran in a worker a moment ago

    response = client.get("/healthz/ready")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok", "worker": "ok"}


def test_readiness_is_503_when_no_worker_ran_the_relay_lately(client, settings):
    assert client.get("/healthz/ready").json()["worker"] == "down"  # never ran
    worker_beat_record()
    WorkerBeat.objects.update(at=timezone.now() - timedelta(seconds=120))

    stale = client.get("/healthz/ready")

    assert stale.status_code == 503
    assert stale.json() == {"database": "ok", "broker": "ok", "worker": "down"}


def test_readiness_answers_503_naming_the_broker_when_it_is_down_and_recovers(client, settings):
    worker_beat_record()
    working = settings.CELERY_BROKER_URL
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    down = client.get("/healthz/ready")
    settings.CELERY_BROKER_URL = working  # it is back
    up = client.get("/healthz/ready")

    assert down.status_code == 503
    assert down.json() == {"database": "ok", "broker": "down", "worker": "ok"}  # no internals
    assert up.status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the in-memory SQLite test database cannot be taken away from a live connection",
)
def test_readiness_answers_503_when_the_database_is_unreachable_and_recovers(client):
    worker_beat_record()
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["PORT"] = "1"  # nothing listens there: a refused connection
    try:
        down = client.get("/healthz/ready")
        alive = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    up = client.get("/healthz/ready")

    assert down.status_code == 503
    assert down.json()["database"] == "down"
    assert "errors" not in down.json()  # what failed is in the log, not on the public page
    assert alive.status_code == 200  # the app itself is up
    assert up.status_code == 200


def test_redact_masks_emails_and_pay_figures():
    line = "Not Found: /api/v1/employees/alice.smith@example.com/balance/ base_salary=185000"

    assert redact(line) == "Not Found: /api/v1/employees/[email]/balance/ base_salary=[redacted]"
    assert redact("{'salary': 200000, 'team': 7}") == "{'salary': [redacted], 'team': 7}"


def test_the_configured_log_handler_keeps_emails_out_of_request_logs(client):
    handler = next(
        h for h in logging.getLogger().handlers if any(isinstance(f, RedactPII) for f in h.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    client.force_login(EmployeeFactory().user)
    try:
        client.get("/api/v1/employees/nobody.here@example.com/balance/")
        logging.getLogger("allot.test").warning("offer for %s", "cand@example.org")
    finally:
        handler.setStream(previous)

    output = stream.getvalue()
    assert "[email]" in output
    assert "@example" not in output


PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "deployment-test-" + "x" * 50,
    "ALLOWED_HOSTS": "allot.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "EMAIL_URL": "smtp://localhost:25",
}


SHOW_CACHE = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.CACHES['default']['BACKEND'])"
)


def _production_settings_load(**env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("CACHE_URL", *PRODUCTION_ENV)}
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-c", SHOW_CACHE],
        cwd=Path(__file__).resolve().parents[2],
        env={**environment, **PRODUCTION_ENV, **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("cache_url", [None, "locmemcache://", "dummycache://"])
def test_production_refuses_to_start_without_a_shared_cache(cache_url):
    started = _production_settings_load(**({"CACHE_URL": cache_url} if cache_url else {}))

    assert started.returncode != 0
    assert "CACHE_URL" in started.stderr


def test_production_starts_on_redis_through_django_redis():
    started = _production_settings_load(CACHE_URL="redis://127.0.0.1:6379/2")

    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "django_redis.cache.RedisCache"


def test_no_page_may_be_framed_by_either_header(client):
    response = client.get("/accounts/login/")

    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


@pytest.mark.parametrize("page", ["import", "export"])
def test_the_import_export_admin_pages_have_no_inline_script(client, page):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    html = client.get(f"/admin/reporting/productivitymetric/{page}/").content.decode()

    assert not re.search(r"\son[a-z]+\s*=", html), re.search(r".{60}\son[a-z]+\s*=.{60}", html)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
