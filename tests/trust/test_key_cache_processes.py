"""A revoked key is refused at once by every web process: the key cache is the shared one.

Two gunicorn servers (two processes, each its own memory) on one database (a migrated SQLite
file) and the shared cache (Redis at 127.0.0.1:6379, as production requires) both cache the key
on a first call; the key is revoked from a third process; the next call to each is refused.
The same servers on a cache in each process's memory go on accepting the revoked key until their
entry expires: that is what the shared cache closes.
"""

import os
import uuid

import pytest

from tests.trust.test_throttle_processes import REDIS_URL, _get, _manage, _Server

BALANCE = "/api/v1/employees/nobody@example.com/balance/"  # 404 once the key is accepted


@pytest.fixture
def site(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'allot.sqlite3'}",
        "DEBUG": "false",
    }
    _manage(env, "migrate", "--noinput", "-v0")
    key = _manage(env, "create_api_key", "cache test", "--scopes", "read_balances")
    return env, key.splitlines()[1].strip(), tmp_path


def _after_revoking(site, cache_url: str) -> list[int]:
    """Each server's answer to the key before and after it is revoked from another process."""
    env, key, tmp = site
    env = {**env, "CACHE_URL": cache_url}
    servers = [_Server(env, tmp / f"gunicorn-{i}-{uuid.uuid4().hex[:6]}.log") for i in (1, 2)]
    try:
        for server in servers:
            server.wait_until_up()
        for _ in range(2):  # the first call notes the key's last use, the second caches it
            before = [_get(server.port, BALANCE, key) for server in servers]
        assert before == [404, 404]
        _manage(
            env,
            "shell",
            "-c",
            "from budgets.models import IntegrationKey; "
            "IntegrationKey.objects.update(revoked=True)",
        )
        return [_get(server.port, BALANCE, key) for server in servers]
    finally:
        for server in servers:
            server.stop()


def test_a_key_revoked_in_one_process_is_refused_by_every_other_at_once(site):
    assert _after_revoking(site, REDIS_URL) == [401, 401]


def test_a_cache_in_each_process_would_accept_the_revoked_key_a_while(site):
    assert _after_revoking(site, "locmemcache://") == [404, 404]
