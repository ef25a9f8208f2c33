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
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=f"sqlite:///{tmp_path / 'allot.sqlite3'}",
        CELERY_FILESYSTEM_BROKER_DIR=str(tmp_path / "broker"),
        CELERY_RESULT_BACKEND=f"db+sqlite:///{tmp_path / 'results.sqlite3'}",
        LOG_LEVEL="WARNING",
    )
    assert manage(env, "migrate", "--noinput").returncode == 0
    seeded = manage(env, "shell", "-c", SEED)
    assert seeded.returncode == 0, seeded.stderr
    worker = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=info",
            f"--hostname=rollover-{os.getpid()}@%h",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "worker.log", "w"),  # noqa: SIM115
    )
    try:
        committed = manage(env, "rollover", "--fiscal-year", "2026", "--in-worker", timeout=180)
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
