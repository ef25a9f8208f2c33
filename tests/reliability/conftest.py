"""The fault tests: a real PostgreSQL (a second session holds locks or cuts ours) and, for the
broker, a Redis server each test starts on its own port and stops."""

import shutil
import socket
import subprocess
import time

import psycopg
import pytest
from celery import current_app
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from budgets.models import Budget, LedgerEntry
from budgets.services import budget_allocate, budget_create
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, api_key, price

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the faults are PostgreSQL's (locks, sessions cut)"
)


def open_other_session(*, autocommit: bool = False) -> psycopg.Connection:
    """A second PostgreSQL session on the test database, as another transaction would be."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=autocommit)


@pytest.fixture
def other_session():
    session = open_other_session()
    yield session
    session.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_server(tmp_path):
    """A redis-server of this test's own on 127.0.0.1, stopped afterwards: pausing it hurts no
    one else. Yields its URL."""
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - a fixed command line of our own
        [
            shutil.which("redis-server") or "/usr/bin/redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def engineer_budget():
    employee = EmployeeFactory(user__email="eng@example.com", external_id="EMP-1")
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=employee)
    budget_allocate(budget=budget, amount_micros=1_000 * 10**6, acting_user=None)
    price("sonnet", input_usd="3", output_usd="15")
    return budget


@pytest.fixture
def gateway_key() -> str:
    return api_key()


@pytest.fixture
def usage_events():
    def make(count: int, *, prefix: str = "evt") -> list[dict]:
        now = timezone.now()
        return [
            {
                "id": f"{prefix}-{n}",
                "employee": "eng@example.com",
                "model": "sonnet",
                "input_tokens": 1_000,
                "output_tokens": 100,
                "occurred_at": (now - timezone.timedelta(minutes=n + 1)).isoformat(),
            }
            for n in range(count)
        ]

    return make


@pytest.fixture
def real_broker(redis_server, settings, monkeypatch):
    """Celery publishing to the test's own Redis, not eagerly: the relay talks to a broker."""
    settings.ALLOT_OUTBOX_RELAY_ON_COMMIT = False
    app = current_app
    saved = (app.conf.broker_url, app.conf.task_always_eager, app.conf.broker_transport_options)

    def point_at(url: str) -> None:
        monkeypatch.setenv("CELERY_BROKER_URL", url)  # Celery reads it before its settings
        app.conf.broker_url = url
        app.conf.broker_transport_options = {"socket_timeout": 2, "socket_connect_timeout": 1}
        app.conf.task_always_eager = False
        app._pool = None  # noqa: SLF001 - drop the connections made for the previous URL
        app.amqp._producer_pool = None  # noqa: SLF001

    point_at(redis_server)
    yield point_at
    app.conf.broker_url, app.conf.task_always_eager, app.conf.broker_transport_options = saved
    app._pool = None  # noqa: SLF001
    app.amqp._producer_pool = None  # noqa: SLF001


def assert_totals_equal_entries():
    for budget in Budget.objects.all():
        usage = LedgerEntry.objects.filter(budget=budget, kind="usage")
        assert budget.spent_micros == (usage.aggregate(s=Sum("amount_micros"))["s"] or 0)
