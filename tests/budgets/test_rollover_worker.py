"""A real Celery worker (not eager) on the embedded broker runs a rollover end to end.

Everything runs in subprocesses on a SQLite file of its own (the embedded default of `make run`),
so the worker and the command share the database whatever the suite itself runs on."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

SEED = """
from budgets.services import employee_allocate_from_level
from budgets.usage import usage_post
from datetime import date, datetime, UTC
from django.contrib.auth import get_user_model
from people.models import Employee, Level
User = get_user_model()
mid = Level.objects.get(name="mid")
for n in range(5):
    user = User.objects.create_user(f"w{n}@example.com", f"w{n}@example.com", "pw")
    employee = Employee.objects.create(user=user, level=mid, hire_date=date(2020, 1, 1))
    employee_allocate_from_level(employee=employee, fiscal_year=2026, acting_user=None)
    usage_post(employee=employee, event_id=f"e{n}", model_name="m", input_tokens=1,
               output_tokens=1, cost_micros=n * 10**9,
               occurred_at=datetime(2026, 5, 1, tzinfo=UTC))
"""

CHECK = """
import json
from budgets.models import Budget, LedgerEntry, RolloverRun
run = RolloverRun.objects.get(fiscal_year=2026)
print(json.dumps({
    "state": run.state,
    "owners_done": run.owners_done,
    "new_budgets": sorted(Budget.objects.filter(fiscal_year=2027).values_list(
        "allocated_micros", flat=True)),
    "entries_by_run": LedgerEntry.objects.filter(rollover_run=run).count(),
}))
"""


def manage(env, *args, timeout=120):
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_real_worker_commits_a_rollover_sent_by_the_command(tmp_path):
    env = _worker_env(tmp_path, tmp_path / "allot.sqlite3")
    assert manage(env, "migrate", "--noinput").returncode == 0
    seeded = manage(env, "shell", "-c", SEED)
    assert seeded.returncode == 0, seeded.stderr
    worker = _start_worker(env, tmp_path / "worker.log", "rollover")
    try:
        committed = manage(
            env,
            "rollover",
            "--fiscal-year",
            "2026",
            "--before-year-end",
            "--in-worker",
            timeout=180,
        )
        log = (tmp_path / "worker.log").read_text()
        assert committed.returncode == 0, committed.stderr + log
        assert "Committing in a worker" in committed.stdout
        assert "Done: 5 owners" in committed.stdout
        assert "rollover_commit: FY2026, 5 owners" in log  # the worker did it, not the command
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    checked = manage(env, "shell", "-c", CHECK)
    assert checked.returncode == 0, checked.stderr
    result = json.loads(checked.stdout.strip().splitlines()[-1])
    assert result["state"] == "done"
    assert result["owners_done"] == 5
    # $100,000 each plus half of what was left: (100,000 - n * 1,000) / 2 for n in 0..4
    assert result["new_budgets"] == sorted(
        (100_000 + (100_000 - n * 1_000) // 2) * 10**6 for n in range(5)
    )
    # per owner: carryover out and forfeiture on FY2026, carryover in and allocation on FY2027
    assert result["entries_by_run"] == 20

    again = manage(env, "rollover", "--fiscal-year", "2026")
    assert "already rolled over" in again.stdout


BULK_SEED = """
from datetime import date
from django.contrib.auth import get_user_model
from budgets.models import Budget, EntryKind, LedgerEntry
from budgets.services import level_allocation_key
from people.models import Employee, Level
User = get_user_model()
mid = Level.objects.get(name="mid")
users = User.objects.bulk_create(
    [User(username=f"k{n}@example.com", email=f"k{n}@example.com", password="!")
     for n in range(COUNT)]
)
employees = Employee.objects.bulk_create(
    [Employee(user=user, level=mid, hire_date=date(2020, 1, 1)) for user in users]
)
budgets = Budget.objects.bulk_create(
    [Budget(employee=e, fiscal_year=2026, allocated_micros=100_000 * 10**6) for e in employees]
)
LedgerEntry.objects.bulk_create(
    [LedgerEntry(budget=b, kind=EntryKind.ALLOCATION, amount_micros=100_000 * 10**6,
                 idempotency_key=level_allocation_key(employee=b.employee, fiscal_year=2026))
     for b in budgets]
)
"""

CHECK_ONCE = """
import json
from django.db.models import Count
from budgets.models import Budget, EntryKind, LedgerEntry, RolloverItem, RolloverRun
run = RolloverRun.objects.get(fiscal_year=2026)
per_budget = LedgerEntry.objects.filter(rollover_run=run).values("budget_id", "kind").annotate(
    n=Count("id")).filter(n__gt=1).count()
print(json.dumps({
    "state": run.state,
    "owners_done": run.owners_done,
    "items": RolloverItem.objects.filter(run=run).count(),
    "doubled": per_budget,
    "new_totals": sorted(set(Budget.objects.filter(fiscal_year=2027).values_list(
        "allocated_micros", flat=True))),
    "old_totals": sorted(set(Budget.objects.filter(fiscal_year=2026).values_list(
        "allocated_micros", flat=True))),
    "carried_in": LedgerEntry.objects.filter(kind=EntryKind.CARRYOVER_IN).count(),
}))
"""


def _worker_env(tmp_path: Path, database: Path) -> dict[str, str]:
    """This process's environment for a worker and shells on their own SQLite database and
    filesystem broker (whatever DATABASE_URL and broker the suite itself runs on)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=f"sqlite:///{database}",
        CELERY_FILESYSTEM_BROKER_DIR=str(tmp_path / "broker"),
        CELERY_RESULT_BACKEND=f"db+sqlite:///{tmp_path / 'results.sqlite3'}",
        LOG_LEVEL="WARNING",
    )
    return env


def _start_worker(env, log_path, name):
    return subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=info",
            f"--hostname={name}-{os.getpid()}@%h",
            "--without-mingle",
            "--without-gossip",
            "--queues=celery,long",  # the rollover is a long job: its own queue
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(log_path, "a"),  # noqa: SIM115
    )


def _chunks_done(database: Path) -> tuple[int, str]:
    import sqlite3

    with sqlite3.connect(database, timeout=5) as conn:
        row = conn.execute(
            "SELECT chunks_done, state FROM budgets_rolloverrun WHERE fiscal_year = 2026"
        ).fetchone()
    return row or (0, "")


def test_a_worker_killed_mid_rollover_loses_nothing_and_the_next_one_finishes_exactly_once(
    tmp_path,
):
    import signal
    import time

    count = 400
    database = tmp_path / "allot.sqlite3"
    env = _worker_env(tmp_path, database)
    assert manage(env, "migrate", "--noinput").returncode == 0
    seeded = manage(env, "shell", "-c", BULK_SEED.replace("COUNT", str(count)))
    assert seeded.returncode == 0, seeded.stderr
    log = tmp_path / "worker.log"

    worker = _start_worker(env, log, "doomed")
    follower = subprocess.Popen(  # noqa: S603 - the command, following the worker's progress
        [
            sys.executable,
            "manage.py",
            "rollover",
            "--fiscal-year",
            "2026",
            "--before-year-end",
            "--in-worker",
        ]
        + ["--chunk-size", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while _chunks_done(database)[0] < 5 and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)  # mid-run, perhaps mid-chunk
        worker.wait(timeout=30)
    finally:
        follower.terminate()
        follower.wait(timeout=30)
        if worker.poll() is None:
            worker.kill()
    chunks, state = _chunks_done(database)
    assert 5 <= chunks < count, "the worker was not killed mid-run"
    assert state == "running"  # it died: nobody marked it failed

    second = _start_worker(env, log, "second")
    try:
        resumed = manage(
            env,
            "rollover",
            "--fiscal-year",
            "2026",
            "--before-year-end",
            "--in-worker",
            "--chunk-size",
            "50",
            timeout=180,
        )
        assert resumed.returncode == 0, resumed.stderr + log.read_text()
    finally:
        second.terminate()
        second.wait(timeout=30)

    checked = manage(env, "shell", "-c", CHECK_ONCE)
    assert checked.returncode == 0, checked.stderr
    result = json.loads(checked.stdout.strip().splitlines()[-1])
    assert result["state"] == "done"
    assert result["items"] == result["owners_done"] == count
    assert result["doubled"] == 0  # no budget got any kind of entry twice
    assert result["carried_in"] == count
    assert result["new_totals"] == [150_000 * 10**6]  # $100,000 + half of $100,000, for all
    assert result["old_totals"] == [0]  # nothing left behind in the closed year


SWEEP = """
from budgets.models import RolloverRun
from budgets.tasks import rollovers_resume_task
from outbox.services import outbox_relay
print(rollovers_resume_task(), RolloverRun.objects.get().state, outbox_relay().sent)
"""


def test_a_worker_killed_mid_rollover_is_interrupted_and_resumed_by_the_sweep(tmp_path):
    import signal
    import time

    count = 300
    database = tmp_path / "allot.sqlite3"
    env = _worker_env(tmp_path, database)
    assert manage(env, "migrate", "--noinput").returncode == 0
    seeded = manage(env, "shell", "-c", BULK_SEED.replace("COUNT", str(count)))
    assert seeded.returncode == 0, seeded.stderr
    log = tmp_path / "worker.log"
    worker = _start_worker(env, log, "doomed")
    follower = subprocess.Popen(  # noqa: S603 - the command that sends the run to the worker
        [sys.executable, "manage.py", "rollover", "--fiscal-year", "2026", "--before-year-end"]
        + ["--in-worker", "--chunk-size", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while _chunks_done(database)[0] < 5 and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()
            time.sleep(0.02)
        worker.send_signal(signal.SIGKILL)  # mid-run
        worker.wait(timeout=30)
    finally:
        follower.terminate()
        follower.wait(timeout=30)
        if worker.poll() is None:
            worker.kill()
    assert _chunks_done(database)[1] == "running"

    # the minute's sweep (no progress for "too long": 0 s here) marks it and queues it again
    swept = manage({**env, "ALLOT_RUN_STALLED_AFTER_SECONDS": "0"}, "shell", "-c", SWEEP)
    assert swept.returncode == 0, swept.stderr
    assert swept.stdout.split()[-3:] == ["1", "interrupted", "1"]

    second = _start_worker(env, log, "second")
    try:
        deadline = time.monotonic() + 150
        while _chunks_done(database)[1] != "done" and time.monotonic() < deadline:
            assert second.poll() is None, log.read_text()
            time.sleep(0.5)
    finally:
        second.terminate()
        second.wait(timeout=30)

    checked = manage(env, "shell", "-c", CHECK_ONCE)
    result = json.loads(checked.stdout.strip().splitlines()[-1])
    assert result["state"] == "done"
    assert result["items"] == result["owners_done"] == count
    assert result["doubled"] == 0
    assert result["new_totals"] == [150_000 * 10**6]
