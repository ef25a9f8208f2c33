"""How long seed_demo takes, against a baseline measured in the same run.

Run on the database named by DATABASE_URL (the target is PostgreSQL):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python benchmarks/seed_demo.py --employees 10000 --events-per-employee 100

Each case runs in a fresh database made for it (allot_bench_*) and dropped after. The baseline
writes a sample of the same events one by one through budgets.usage.usage_post, the path a
naive seed would take; the table shows events per second for both and the ratio.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fresh_database(base_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(base_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(url: str, *args: str) -> tuple[float, str]:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"manage.py {args[0]} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, done.stdout.strip()


BASELINE = """
import time
from budgets.models import UsageEvent
from budgets.usage import usage_post
from people.models import Employee
sample = list(UsageEvent.objects.select_related('employee', 'project').order_by('id')[:{n}])
employees = {{e.pk: e for e in Employee.objects.select_related('team')}}
started = time.perf_counter()
for event in sample:
    usage_post(employee=employees[event.employee_id], event_id='again-' + event.event_id,
               model_name=event.model_name, occurred_at=event.occurred_at,
               input_tokens=event.input_tokens, output_tokens=event.output_tokens,
               cached_input_tokens=event.cached_input_tokens, category=event.category,
               project=event.project, source='baseline')
print(f'{{time.perf_counter() - started:.3f}}')
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--events-per-employee", type=int, default=100)
    parser.add_argument("--baseline-events", type=int, default=2_000)
    parser.add_argument("--today", default="2026-11-29")
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL server (the target is measured there).")

    name = "allot_bench_seed"
    url = fresh_database(base_url, name)
    try:
        manage(url, "migrate", "--noinput", "-v0")
        seconds, output = manage(
            url,
            "seed_demo",
            f"--employees={args.employees}",
            f"--events-per-employee={args.events_per_employee}",
            f"--today={args.today}",
        )
        events = (args.employees + 2) * args.events_per_employee
        _, baseline_output = manage(url, "shell", "-c", BASELINE.format(n=args.baseline_events))
        baseline_seconds = float(baseline_output.splitlines()[-1])
    finally:
        drop_database(base_url, name)

    bulk_rate = events / seconds
    baseline_rate = args.baseline_events / baseline_seconds
    print(f"seed_demo said: {output}")
    print()
    print("| path | events | seconds | events/s |")
    print("|---|---:|---:|---:|")
    print(f"| seed_demo (bulk, whole command) | {events:,} | {seconds:.1f} | {bulk_rate:,.0f} |")
    print(
        f"| baseline: usage_post one by one | {args.baseline_events:,} | {baseline_seconds:.1f} "
        f"| {baseline_rate:,.0f} |"
    )
    print()
    print(
        f"bulk / baseline: {bulk_rate / baseline_rate:.1f}x; target: under 120 s -> "
        f"{'met' if seconds < 120 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
