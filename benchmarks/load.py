"""A bounded load test: mixed ingest, authorize, balance and dashboard traffic against gunicorn and
PostgreSQL on loopback, then a check that every balance equals the sum of what was accepted.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/load.py

It makes a fresh database (allot_load: seed_demo with --employees people and
--events-per-employee events each), starts gunicorn (--workers sync workers), and for --seconds
(at most 120) runs these clients side by side, each on its own keep-alive connection:

- ingest: batches of --batch new events (cost_usd given, random employees), some batches
  re-sent whole to prove replays are harmless;
- authorize: $0.05 estimates, half of them with "reserve": true and a request id;
- balance: GET /api/v1/employees/<email>/balance/ with a read key;
- dashboard: GET / as engineer@example.com (a signed-in session).

It prints one row per endpoint (requests, errors, p50, p99, requests/s) and, as a baseline in the
same run, the same table for GET /healthz alone. Then it checks, in the database:
every budget's spent total equals the sum of its usage ledger entries, its reserved total equals
its held reservations, and the events stored for this run's source are exactly the ones the
server said it accepted (count and dollars, to the micro-dollar). Any error or mismatch makes the
exit status 1.
"""

import argparse
import http.client
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import Server, django_env, manage, percentile  # noqa: E402
from seed_demo import drop_database, fresh_database  # noqa: E402

SOURCE = "load"


class Client:
    """One keep-alive HTTP connection to the server."""

    def __init__(self, port: int, headers: dict[str, str]):
        self.port = port
        self.headers = headers
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body: dict | list | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {**self.headers, **({"Content-Type": "application/json"} if data else {})}
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()  # the server closed a kept-alive connection: reconnect once
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.accepted_micros = 0
        self.accepted_events = 0
        self.sent_ids: set[str] = set()

    def record(self, name: str, seconds: float, status: int, body: bytes, ok=(200,)) -> bool:
        with self.lock:
            self.latency[name].append(seconds)
            if status not in ok:
                self.errors[name].append(f"{status} {body[:200]!r}")
                return False
        return True


def micros(dollars: str) -> int:
    return int(Decimal(dollars) * 1_000_000)


def ingest_client(port, key, employees, args, stop, rec: Recorder, seed: int) -> None:
    rng = random.Random(seed)
    client = Client(port, {"Authorization": f"Api-Key {key}"})
    now = datetime.now(UTC)
    previous: list[dict] | None = None
    while not stop.is_set():
        if previous is not None and rng.random() < 0.1:
            batch, replay = previous, True  # a gateway retrying a batch it never saw answered
        else:
            batch, replay = [], False
            for _ in range(args.batch):
                batch.append(
                    {
                        "id": uuid.uuid4().hex,
                        "employee": rng.choice(employees),
                        "model": "in-house-model",
                        "input_tokens": rng.randint(100, 5000),
                        "output_tokens": rng.randint(10, 2000),
                        "cost_usd": f"{rng.randint(1, 50_000) / 1_000_000:.6f}",
                        "occurred_at": (now - timedelta(minutes=rng.randint(0, 600))).isoformat(),
                        "category": "code_generation",
                    }
                )
        started = time.perf_counter()
        status, body = client.call("POST", "/api/v1/usage/", {"events": batch})
        if not rec.record("POST /api/v1/usage/", time.perf_counter() - started, status, body):
            continue
        answer = json.loads(body)
        rejected = {r["index"] for r in answer["rejected"]}
        with rec.lock:
            if replay:
                if answer["accepted"] != 0:
                    rec.errors["replay"].append(f"a replayed batch accepted {answer['accepted']}")
                continue
            if rejected:
                rec.errors["POST /api/v1/usage/"].append(f"rejected: {answer['rejected'][:2]}")
            for index, event in enumerate(batch):
                if index not in rejected:
                    rec.accepted_events += 1
                    rec.accepted_micros += micros(event["cost_usd"])
        previous = batch


def authorize_client(port, key, employees, stop, rec: Recorder, seed: int) -> None:
    rng = random.Random(seed)
    client = Client(port, {"Authorization": f"Api-Key {key}"})
    while not stop.is_set():
        body = {"employee": rng.choice(employees), "estimated_cost_usd": "0.05"}
        if rng.random() < 0.5:
            body |= {"reserve": True, "request_id": uuid.uuid4().hex}
        started = time.perf_counter()
        status, answer = client.call("POST", "/api/v1/authorize/", body)
        rec.record("POST /api/v1/authorize/", time.perf_counter() - started, status, answer)


def get_client(name, port, headers, paths, stop, rec: Recorder, seed: int) -> None:
    rng = random.Random(seed)
    client = Client(port, headers)
    while not stop.is_set():
        started = time.perf_counter()
        status, body = client.call("GET", rng.choice(paths))
        rec.record(name, time.perf_counter() - started, status, body)


def run(threads: list[threading.Thread], stop: threading.Event, seconds: float) -> float:
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def table(rec: Recorder, elapsed: float) -> list[str]:
    lines = [
        "| endpoint | requests | errors | p50 ms | p99 ms | max ms | requests/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, values in sorted(rec.latency.items()):
        lines.append(
            f"| {name} | {len(values):,} | {len(rec.errors[name])} | "
            f"{statistics.median(values) * 1000:.1f} | {percentile(values, 0.99) * 1000:.1f} | "
            f"{max(values) * 1000:.1f} | {len(values) / elapsed:,.0f} |"
        )
    return lines


def consistency(url: str, rec: Recorder) -> list[str]:
    """Every budget's totals against its parts, and the run's events against what was accepted."""
    import psycopg

    problems = []
    with psycopg.connect(url) as conn:
        bad_spent = conn.execute(
            """
            SELECT b.id, b.spent_micros, COALESCE(SUM(e.amount_micros), 0)
            FROM budgets_budget b
            LEFT JOIN budgets_ledgerentry e
              ON e.budget_id = b.id AND e.kind IN ('usage', 'usage_correction')
            GROUP BY b.id HAVING b.spent_micros <> COALESCE(SUM(e.amount_micros), 0)
            """
        ).fetchall()
        bad_allocated = conn.execute(
            """
            SELECT b.id FROM budgets_budget b
            LEFT JOIN budgets_ledgerentry e
              ON e.budget_id = b.id AND e.kind NOT IN ('usage', 'usage_correction')
            GROUP BY b.id HAVING b.allocated_micros <> COALESCE(SUM(e.amount_micros), 0)
            """
        ).fetchall()
        bad_reserved = conn.execute(
            """
            SELECT b.id FROM budgets_budget b
            LEFT JOIN budgets_reservation r ON r.budget_id = b.id AND r.state = 'held'
            GROUP BY b.id HAVING b.reserved_micros <> COALESCE(SUM(r.amount_micros), 0)
            """
        ).fetchall()
        events, dollars = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(cost_micros), 0) FROM budgets_usageevent "
            "WHERE source = %s",
            [SOURCE],
        ).fetchone()
        budgets = conn.execute("SELECT COUNT(*) FROM budgets_budget").fetchone()[0]
    if bad_spent:
        problems.append(f"{len(bad_spent)} budgets whose spent is not the sum of usage entries")
    if bad_allocated:
        problems.append(f"{len(bad_allocated)} budgets whose allocated is not the sum of entries")
    if bad_reserved:
        problems.append(f"{len(bad_reserved)} budgets whose reserved is not their held holds")
    if (events, dollars) != (rec.accepted_events, rec.accepted_micros):
        problems.append(
            f"stored {events} events / {dollars} micro-dollars for the run, but the server "
            f"accepted {rec.accepted_events} / {rec.accepted_micros}"
        )
    print(
        f"\nChecked {budgets:,} budgets: spent = sum of usage entries, allocated = sum of "
        f"allocation entries, reserved = held reservations; {events:,} events stored for the run "
        f"= {rec.accepted_events:,} accepted (${Decimal(dollars) / 1_000_000:,.6f})."
    )
    return problems


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--employees", type=int, default=2000)
    parser.add_argument("--events-per-employee", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 120:
        sys.exit("--seconds must be between 1 and 120 (the test is bounded at two minutes)")
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL server (the load test runs there).")

    url = fresh_database(base, "allot_load")
    tmp = Path(tempfile.mkdtemp(prefix="allot-load-"))
    env = django_env(url, tmp, conn_max_age=60)
    server = None
    try:
        today = datetime.now(UTC).date().isoformat()
        manage(env, "migrate", "--noinput", "-v0")
        seconds, _ = manage(
            env,
            "seed_demo",
            f"--employees={args.employees}",
            f"--events-per-employee={args.events_per_employee}",
            f"--today={today}",
        )
        print(f"seeded {args.employees:,} employees in {seconds:.1f} s")
        key = manage(
            env,
            "create_api_key",
            "load",
            f"--source={SOURCE}",
            "--scopes=ingest,authorize,read_balances",
        )[1].splitlines()[1]
        session = manage(
            env,
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model;"
            "from django.contrib.sessions.backends.db import SessionStore;"
            "u = get_user_model().objects.get(username='engineer@example.com');"
            "s = SessionStore(); s['_auth_user_id'] = str(u.pk);"
            "s['_auth_user_backend'] = 'django.contrib.auth.backends.ModelBackend';"
            "s['_auth_user_hash'] = u.get_session_auth_hash(); s.create(); print(s.session_key)",
        )[1].splitlines()[-1]
        employees = [f"employee{n:05d}@example.com" for n in range(1, args.employees - 2)]
        server = Server(env, args.workers, "sync", tmp / "gunicorn.log")

        baseline = Recorder()
        stop = threading.Event()
        health = [
            threading.Thread(
                target=get_client,
                args=("GET /healthz (baseline)", server.port, {}, ["/healthz"], stop, baseline, i),
            )
            for i in range(4)
        ]
        base_elapsed = run(health, stop, min(10, args.seconds))

        rec = Recorder()
        stop = threading.Event()
        read = {"Authorization": f"Api-Key {key}"}
        balance_paths = [f"/api/v1/employees/{e}/balance/" for e in employees[:500]]
        threads = [
            threading.Thread(
                target=ingest_client, args=(server.port, key, employees, args, stop, rec, i)
            )
            for i in range(2)
        ]
        threads += [
            threading.Thread(
                target=authorize_client, args=(server.port, key, employees, stop, rec, 10 + i)
            )
            for i in range(3)
        ]
        threads.append(
            threading.Thread(
                target=get_client,
                args=(
                    "GET /api/v1/employees/…/balance/",
                    server.port,
                    read,
                    balance_paths,
                    stop,
                    rec,
                    20,
                ),
            )
        )
        threads.append(
            threading.Thread(
                target=get_client,
                args=(
                    "GET / (dashboard)",
                    server.port,
                    {"Cookie": f"sessionid={session}"},
                    ["/"],
                    stop,
                    rec,
                    30,
                ),
            )
        )
        elapsed = run(threads, stop, args.seconds)
        server.stop()
        server = None

        print(
            f"\nMixed load, {len(threads)} clients, {elapsed:.0f} s, gunicorn {args.workers} "
            f"sync workers, {args.employees:,} employees:\n"
        )
        print("\n".join(table(rec, elapsed)))
        print(f"\nBaseline in the same run: 4 clients on /healthz alone, {base_elapsed:.0f} s:\n")
        print("\n".join(table(baseline, base_elapsed)[2:]))
        problems = consistency(url, rec)
        for name, errors in rec.errors.items():
            if errors:
                problems.append(f"{len(errors)} errors on {name}, e.g. {errors[0]}")
        if problems:
            print("\nFAILED:\n- " + "\n- ".join(problems))
            sys.exit(1)
        print("No errors; every balance equals the sum of its parts.")
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            drop_database(base, "allot_load")


if __name__ == "__main__":
    main()
