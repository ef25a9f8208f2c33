"""The per-key API limit holds across web processes: two gunicorn servers, one key, one count.

Each server is its own process with its own memory, on a database of its own (a migrated SQLite
file) and the shared cache the environment names (Redis at 127.0.0.1:6379, as production
requires). The same two servers on a cache in each process's memory let the key through twice
as often: that is the hole the shared cache closes.
"""

import http.client
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("ALLOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/3")
RATE = 6  # requests a minute for the key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str, key: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Api-Key {key}"})
        return conn.getresponse().status
    finally:
        conn.close()


def _manage(env: dict, *args: str) -> str:
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


class _Server:
    def __init__(self, env: dict, log: Path):
        self.port = _free_port()
        self.log = log
        self.process = subprocess.Popen(  # noqa: S603 - our own gunicorn and arguments
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "config.wsgi:application",
                "--workers=1",
                f"--bind=127.0.0.1:{self.port}",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                http.client.HTTPConnection("127.0.0.1", self.port, timeout=2).connect()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"gunicorn did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A migrated database of its own and a read key, for servers started by each test."""
    tmp = tmp_path_factory.mktemp("throttle")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"sqlite:///{tmp / 'allot.sqlite3'}",
        "DEBUG": "false",
        "ALLOT_API_RATE": f"{RATE}/min",
    }
    _manage(env, "migrate", "--noinput", "-v0")
    key = _manage(env, "create_api_key", "throttle test", "--scopes", "read_balances")
    return env, key.splitlines()[1].strip(), tmp


def _requests_let_through(site, cache_url: str) -> int:
    """Send the key's whole minute's rate to each of two servers; count what is not a 429."""
    env, key, tmp = site
    env = {**env, "CACHE_URL": cache_url}
    servers = [_Server(env, tmp / f"gunicorn-{i}-{uuid.uuid4().hex[:6]}.log") for i in (1, 2)]
    try:
        for server in servers:
            server.wait_until_up()
        statuses = [
            _get(server.port, "/api/v1/employees/nobody@example.com/balance/", key)
            for _ in range(RATE)
            for server in servers
        ]
    finally:
        for server in servers:
            server.stop()
    assert set(statuses) <= {404, 429}, statuses  # the limit counts before the lookup
    return sum(status != 429 for status in statuses)


def test_two_processes_on_the_shared_cache_share_one_limit(site):
    # given a shared cache with no counts in it
    redis.Redis.from_url(REDIS_URL).flushdb()

    # when two servers each get the key's whole rate
    let_through = _requests_let_through(site, REDIS_URL)

    # then the key got its rate once, not once per process
    assert let_through == RATE


def test_a_cache_in_each_process_would_let_the_key_through_twice(site):
    assert _requests_let_through(site, "locmemcache://") == 2 * RATE
