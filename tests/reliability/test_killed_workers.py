"""Workers killed with SIGKILL in the middle of their work, for real: a Celery worker building a
quarterly report, and a gunicorn worker writing a usage batch. Each test starts its own
processes (on 127.0.0.1, on the suite's PostgreSQL test database and a Redis server of its own),
kills one, and checks what the caller saw, that nothing was lost or doubled, and how long
recovery took (printed; docs/reliability.md records the figures). Bounded: every wait has a
deadline, and every process started here is stopped in a `finally`."""

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from budgets.models import Budget, UsageEvent
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_post
from outbox.models import OutboxMessage
from outbox.services import outbox_relay
from people.selectors import current_fiscal_year
from reporting.models import ReportRun, RunState
from reporting.services import report_run_request, report_runs_resume
from tests.factories import EmployeeFactory
from tests.reliability.conftest import (
    _free_port,
    assert_totals_equal_entries,
    needs_postgresql,
    open_other_session,
)

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.integration,
    needs_postgresql,
]
ROOT = Path(__file__).resolve().parent.parent.parent


def database_url() -> str:
    """The suite's test database, for the processes this module starts."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(tmp_path: Path, broker_url: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DEBUG="false",
        DATABASE_URL=database_url(),
        CELERY_BROKER_URL=broker_url,
        CELERY_RESULT_BACKEND=broker_url,
        MEDIA_ROOT=str(tmp_path / "media"),
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def start_worker(env: dict[str, str], log: Path, name: str) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo"]
        + ["--loglevel=info", f"--hostname={name}-{os.getpid()}@%h", "--without-mingle"]
        + ["--without-gossip", "--queues=celery,long"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("a"),
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until(condition, *, seconds: float, every: float = 0.1, alive=None, log=None):
    """Poll `condition` until it is truthy (returns it) or the deadline passes (fails)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if alive is not None:
            assert alive.poll() is None, log.read_text()[-3000:] if log else "the process died"
        time.sleep(every)
    pytest.fail(f"not within {seconds} s" + (f":\n{log.read_text()[-3000:]}" if log else ""))


def report_company() -> None:
    """Three people with budgets and usage this fiscal year: a small report to build."""
    year = current_fiscal_year()
    for n in range(3):
        employee = EmployeeFactory(user__email=f"r{n}@example.com")
        budget, _ = budget_create(fiscal_year=year, employee=employee)
        budget_allocate(budget=budget, amount_micros=1_000 * 10**6, acting_user=None)
        usage_post(
            employee=employee,
            event_id=f"r-{n}",
            model_name="m",
            input_tokens=10,
            output_tokens=10,
            cost_micros=(n + 1) * 10**6,
            occurred_at=datetime.now(UTC) - timedelta(days=1),
        )


def run_state(run: ReportRun) -> ReportRun:
    return ReportRun.objects.get(pk=run.pk)


def test_a_celery_worker_killed_mid_report_build_is_interrupted_and_built_once_by_the_next(
    tmp_path, redis_server, real_broker, settings
):
    # given a report build in a real worker that pauses 1 s after each stage
    report_company()
    run = report_run_request(fiscal_year=current_fiscal_year(), quarter=1, acting_user=None)
    log = tmp_path / "worker.log"
    slow = process_env(tmp_path, redis_server, ALLOT_REPORT_STAGE_PAUSE_SECONDS="1")
    doomed = start_worker(slow, log, "doomed")
    second = None
    try:
        assert outbox_relay().sent == 4  # the build, and the alert checks of the usage
        wait_until(lambda: run_state(run).progress_percent >= 15, seconds=40, alive=doomed, log=log)

        # when the worker is killed mid-build (SIGKILL: nothing of it runs afterwards)
        doomed.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        doomed.wait(timeout=10)
        second = start_worker(process_env(tmp_path, redis_server), log, "second")

        # then the run shows running, its heartbeat no longer moving
        left = run_state(run)
        assert left.state == RunState.RUNNING
        assert 15 <= left.progress_percent < 90
        time.sleep(1.5)
        assert run_state(run).heartbeat_at == left.heartbeat_at

        # when the sweep runs (the bound lowered from 300 s to 2 s for the test)
        settings.ALLOT_RUN_STALLED_AFTER_SECONDS = 2
        wait_until(lambda: report_runs_resume() == 1, seconds=15, every=0.2)
        to_interrupted = time.monotonic() - killed_at
        swept = run_state(run)
        assert (swept.state, swept.resumes) == (RunState.INTERRUPTED, 1)
        assert f"{left.progress_percent}%" in swept.error

        # then the relay queues it again and the next worker builds it, once
        assert outbox_relay().sent == 1
        wait_until(lambda: run_state(run).state == RunState.DONE, seconds=50, alive=second, log=log)
        to_done = time.monotonic() - killed_at
    finally:
        stop(doomed)
        if second is not None:
            stop(second)

    done = run_state(run)
    assert (done.progress_percent, done.resumes) == (100, 1)
    files = list((tmp_path / "media").rglob("*.pdf"))
    assert [f.name for f in files] == [Path(done.pdf.name).name]  # exactly one file
    assert files[0].read_bytes().startswith(b"%PDF")
    assert report_runs_resume() == 0
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()
    assert log.read_text().count("Task reporting.report_build[") == 3  # 2 received, 1 succeeded
    print(  # noqa: T201
        f"\nreport worker killed at {left.progress_percent}%: interrupted after "
        f"{to_interrupted:.1f} s, done after {to_done:.1f} s"
    )


def start_gunicorn(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, int]:
    """gunicorn as benchmarks/load.py runs it (one sync worker here), on 127.0.0.1."""
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - our own virtualenv's gunicorn and arguments
        [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application"]
        + ["--workers=1", "--worker-class=sync", f"--bind=127.0.0.1:{port}", "--timeout=120"]
        + ["--no-control-socket"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    return server, port


def get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def post_batch(port: int, key: str, events: list[dict]) -> tuple[int, dict | str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            "/api/v1/usage/",
            body=json.dumps({"events": events}),
            headers={"Content-Type": "application/json", "Authorization": f"Api-Key {key}"},
        )
        response = conn.getresponse()
        body = response.read()
        kind = response.getheader("Content-Type", "")
        return response.status, json.loads(body) if kind == "application/json" else body.decode()
    finally:
        conn.close()


def gunicorn_worker_pid(master: subprocess.Popen) -> int:
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    return int(children[0]) if children else 0


WRITING = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL
"""


def test_a_gunicorn_worker_killed_mid_batch_keeps_all_or_nothing_and_the_retry_is_whole(
    tmp_path, engineer_budget, gateway_key, usage_events
):
    events = usage_events(2_000, prefix="kill")
    env = process_env(
        tmp_path, "filesystem://", CELERY_FILESYSTEM_BROKER_DIR=str(tmp_path / "broker")
    )
    log = tmp_path / "gunicorn.log"
    server, port = start_gunicorn(env, log)
    watcher = open_other_session(autocommit=True)
    outcome: dict = {}

    def send() -> None:
        started = time.monotonic()
        try:
            outcome["answer"] = post_batch(port, gateway_key, events)
        except (http.client.HTTPException, OSError) as error:
            outcome["error"] = error
        outcome["seconds"] = time.monotonic() - started

    try:
        wait_until(lambda: get(port, "/healthz") == 200, seconds=60, alive=server, log=log)
        worker = gunicorn_worker_pid(server)
        assert worker
        client = threading.Thread(target=send, daemon=True)
        client.start()

        # when the worker is killed while its transaction is writing the batch
        def writer_pid():
            return watcher.execute(WRITING).fetchone()

        (backend,) = wait_until(writer_pid, seconds=30, every=0.005)
        os.kill(worker, signal.SIGKILL)
        killed_at = time.monotonic()
        client.join(timeout=60)
        assert not client.is_alive()
        healthy = wait_until(
            lambda: get(port, "/healthz") == 200 and gunicorn_worker_pid(server) != worker,
            seconds=60,
            every=0.05,
            alive=server,
            log=log,
        )
        to_healthy = time.monotonic() - killed_at
        assert healthy

        # then the client saw the connection fail (or a JSON 5xx), never a partial 200
        if "answer" in outcome:
            status, body = outcome["answer"]
            assert status >= 500 and isinstance(body, dict), outcome
        else:
            assert isinstance(outcome["error"], http.client.HTTPException | OSError)

        # and the database kept all of the batch or none of it, once its session had ended
        wait_until(
            lambda: (
                not watcher.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend]
                ).fetchone()
            ),
            seconds=30,
        )
        stored = UsageEvent.objects.filter(event_id__startswith="kill-").count()
        assert stored in (0, 2_000)

        # when the gateway retries the batch, then posts it a third time
        retried = post_batch(port, gateway_key, events)
        third = post_batch(port, gateway_key, events)
    finally:
        watcher.close()
        stop(server)

    assert retried[0] == 200
    assert (retried[1]["accepted"], retried[1]["duplicates"]) == (2_000 - stored, stored)
    assert third == (200, {"accepted": 0, "duplicates": 2_000, "rejected": []})
    assert UsageEvent.objects.filter(event_id__startswith="kill-").count() == 2_000
    assert_totals_equal_entries()
    assert Budget.objects.get(pk=engineer_budget.pk).spent_micros > 0
    print(  # noqa: T201
        f"\ngunicorn worker killed mid-batch ({stored} of 2,000 kept): the client saw "
        f"{type(outcome.get('error')).__name__ if 'error' in outcome else outcome['answer'][0]} "
        f"after {outcome['seconds']:.2f} s; a new worker answered /healthz {to_healthy:.2f} s "
        "after the kill"
    )
