"""Provider connector sync against the plain ingest of the same rows, in one run, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/connector_sync.py --employees 10000 --days 365

The issue's size is 10,000 employees and a year of daily buckets (3.65 million); --employees
and --days scale it down. It makes a fresh database (allot_sync_bench, dropped at the end unless
--keep), N employees each with an Anthropic API key mapped to them, and a price for the model.

- Connectors: `usage_sync anthropic` (the service the command and the beat task call) against a
  local server on 127.0.0.1 that generates the messages usage report's pages on the fly, one
  daily bucket of N results a page (has_more / next_page), so HTTP, JSON, bucket bookkeeping,
  the identity map and ingest are all in the figure.
- Baseline: `usage_ingest` (the service behind POST /api/v1/usage/ and import_usage) of the same
  number of events, same employees, tokens and days, in batches of 5,000, without HTTP.

Each half writes into its own days; --rounds rounds alternate which half goes first, so
neither always meets the larger tables. Prints rows/s for both (over all rounds) and the
ratio.
"""

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from seed_demo import drop_database, fresh_database  # noqa: E402

MODEL = "claude-sonnet-4-20250514"
DB_NAME = "allot_sync_bench"


def serve(employees: int, first_day: date, days: int) -> ThreadingHTTPServer:
    """The messages usage report, generated: day k of `days` is page k."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            query = parse_qs(urlparse(self.path).query)
            if not urlparse(self.path).path.endswith("/usage_report/messages"):
                body = {"data": [], "has_more": False, "next_page": None}
            else:
                index = int(query.get("page", ["0"])[0])
                start = datetime.combine(first_day + timedelta(days=index), datetime.min.time())
                start = start.replace(tzinfo=UTC)
                results = [
                    {
                        "uncached_input_tokens": 1_000 + n % 97,
                        "cache_creation": {
                            "ephemeral_1h_input_tokens": 0,
                            "ephemeral_5m_input_tokens": 0,
                        },
                        "cache_read_input_tokens": 0,
                        "output_tokens": 200 + n % 13,
                        "server_tool_use": {"web_search_requests": 0},
                        "api_key_id": f"apikey_{n:06d}",
                        "workspace_id": None,
                        "model": MODEL,
                        "service_tier": None,
                        "context_window": None,
                    }
                    for n in range(employees)
                ]
                more = index + 1 < days
                body = {
                    "data": [
                        {
                            "starting_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "ending_at": (start + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "results": results,
                        }
                    ],
                    "has_more": more,
                    "next_page": str(index + 1) if more else None,
                }
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def people(employees: int) -> list:
    """N employees in 100 teams, an API key each mapped to them, the model's price."""
    from django.contrib.auth import get_user_model

    from budgets.models import TokenPrice
    from connectors.models import IdentityMapping
    from people.models import Department, Employee, Level, Team

    department = Department.objects.create(name="Bench")
    teams = Team.objects.bulk_create(
        [Team(name=f"Team {n}", department=department) for n in range(100)]
    )
    level = Level.objects.order_by("rank").first()
    users = get_user_model().objects.bulk_create(
        [
            get_user_model()(username=f"bench{n}@example.com", email=f"bench{n}@example.com")
            for n in range(employees)
        ]
    )
    staff = Employee.objects.bulk_create(
        [
            Employee(user=u, level=level, team=teams[n % 100], hire_date=date(2020, 1, 6))
            for n, u in enumerate(users)
        ]
    )
    IdentityMapping.objects.bulk_create(
        [
            IdentityMapping(
                provider="anthropic", kind="api_key_id", external_id=f"apikey_{n:06d}", employee=e
            )
            for n, e in enumerate(staff)
        ]
    )
    TokenPrice.objects.create(
        model_name=MODEL,
        input_per_million_micros=3_000_000,
        output_per_million_micros=15_000_000,
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
    )
    return users


def baseline(users: list, first_day: date, days: int) -> tuple[int, float]:
    from budgets.usage import usage_ingest

    rows, started, batch = 0, time.perf_counter(), []
    for index in range(days):
        moment = datetime.combine(first_day + timedelta(days=index), datetime.min.time())
        moment = moment.replace(tzinfo=UTC) + timedelta(hours=12)
        for n, user in enumerate(users):
            batch.append(
                {
                    "id": f"bench:{moment.date().isoformat()}:{n}",
                    "employee": user.email,
                    "model": MODEL,
                    "input_tokens": 1_000 + n % 97,
                    "output_tokens": 200 + n % 13,
                    "occurred_at": moment.isoformat(),
                }
            )
            if len(batch) == 5_000:
                rows += usage_ingest(events=batch, source="bench").accepted
                batch = []
    if batch:
        rows += usage_ingest(events=batch, source="bench").accepted
    return rows, time.perf_counter() - started


def connectors(employees: int, first_day: date, days: int) -> tuple[int, float]:
    from connectors.models import ProviderConnection
    from connectors.sync import usage_sync

    server = serve(employees, first_day, days)
    os.environ["ALLOT_BENCH_ADMIN_KEY"] = "bench-not-a-secret"
    ProviderConnection.objects.update_or_create(
        provider="anthropic",
        defaults={
            "base_url": f"http://127.0.0.1:{server.server_address[1]}",
            "admin_key_env": "ALLOT_BENCH_ADMIN_KEY",
            "start_on": first_day,
            "claude_code": False,
        },
    )
    started = time.perf_counter()
    outcomes = usage_sync("anthropic", since=first_day)
    seconds = time.perf_counter() - started
    server.shutdown()
    return outcomes[0].totals.posted, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=183, help="days a half, each round")
    parser.add_argument("--rounds", type=int, default=2, help="each half per round")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--database", default=DB_NAME, help="the database made (and dropped)")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL server (its postgres database).")
    url = fresh_database(base, args.database)
    tmp = Path(tempfile.mkdtemp(prefix="allot-sync-bench-"))
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DEBUG="false",
        LOG_LEVEL="WARNING",
        CELERY_FILESYSTEM_BROKER_DIR=str(tmp / "broker"),
        CELERY_RESULT_BACKEND=f"db+sqlite:///{tmp / 'celery-results.sqlite3'}",
    )
    import django
    from django.core.management import call_command

    django.setup()
    try:
        call_command("migrate", verbosity=0)
        users = people(args.employees)
        day = date(2025, 1, 1)
        base_rows = base_s = sync_rows = sync_s = 0
        # rounds alternate which half goes first, so neither always meets the larger tables
        for round_number in range(args.rounds):
            halves = [("baseline", day), ("connectors", day + timedelta(days=args.days))]
            for name, first in halves if round_number % 2 == 0 else halves[::-1]:
                if name == "baseline":
                    rows, seconds = baseline(users, first, args.days)
                    base_rows, base_s = base_rows + rows, base_s + seconds
                else:
                    rows, seconds = connectors(args.employees, first, args.days)
                    sync_rows, sync_s = sync_rows + rows, sync_s + seconds
                print(f"round {round_number + 1} {name}: {rows:,} in {seconds:.1f}s", flush=True)
            day += timedelta(days=2 * args.days)
        print(f"{args.employees:,} employees x {args.days} days a half, {args.rounds} rounds")
        print(
            f"plain ingest (usage_ingest): {base_rows:,} rows in {base_s:.1f}s, "
            f"{base_rows / base_s:,.0f} rows/s"
        )
        print(
            f"connector sync (usage_sync): {sync_rows:,} buckets in {sync_s:.1f}s, "
            f"{sync_rows / sync_s:,.0f} buckets/s"
        )
        print(f"ratio: {(sync_rows / sync_s) / (base_rows / base_s):.2f} (target 0.5)")
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(base, args.database)


if __name__ == "__main__":
    main()
