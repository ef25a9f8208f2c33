"""Alert checks queued by usage ingest: coalesced per budget (today) against one check per batch
(the behaviour issue 23 measured: 736 alert tasks of about 2.4 s each, 400-560 deep behind
ingest), counted and run in the same process on the same data.

    .venv/bin/python benchmarks/alert_coalescing.py                      # a temporary SQLite file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/alert_coalescing.py --batches 300     # allot_bench_alerts

It makes a fresh database (dropped at the end), gives --budgets people a $100 budget each and
posts --batches usage batches of --events events (cost_usd given; each batch names
--people-per-batch people drawn at random, as a gateway's batch covers whoever called it lately;
the budgets cross their thresholds during the run) through usage_ingest, the
service the API calls. Every --relay-every batches the outbox relay is simulated (the pending
alert checks are taken and marked sent, as the beat relay every 5 s does while batches keep
coming): that is what a worker would receive.

- coalesced (today's main): the `budgets.alerts_check` outbox messages the batches produced,
  one waiting per budget however many batches touch it;
- baseline (one per batch): what the old behaviour enqueued, one `alerts_check` per batch
  naming every budget that batch touched (the people a batch names: one budget each here).

Both sets of checks are then run for real (the task's own function, in-process), --repeats
times interleaved, each run inside a transaction rolled back afterwards so both see the same
ledger; the table shows the task counts, the budget checks they do, and the median run time.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from seed_demo import drop_database, fresh_database  # noqa: E402

DATABASE = "allot_bench_alerts"


def setup_django(base_url: str | None, tmp: Path) -> str:
    if base_url and base_url.startswith("postgres"):
        url = fresh_database(base_url, DATABASE)
    else:
        url = f"sqlite:///{tmp / 'alerts.sqlite3'}"
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DEBUG="false",
        LOG_LEVEL="WARNING",
        CELERY_FILESYSTEM_BROKER_DIR=str(tmp / "broker"),
        CELERY_RESULT_BACKEND=f"db+sqlite:///{tmp / 'results.sqlite3'}",
    )
    import django  # noqa: PLC0415 - Django is set up only once the database is chosen

    django.setup()
    from django.core.management import call_command  # noqa: PLC0415 - needs django.setup()

    call_command("migrate", "--noinput", verbosity=0)
    return url


def seed(budgets: int) -> list[str]:
    """`budgets` people with a $100 budget each this fiscal year; returns their emails."""
    # Imports after django.setup() (setup_django): the models need the app registry.
    from django.contrib.auth import get_user_model  # noqa: PLC0415
    from django.db import transaction  # noqa: PLC0415

    from budgets.services import budget_allocate, budget_create  # noqa: PLC0415
    from people.models import Employee, Level  # noqa: PLC0415
    from people.selectors import current_fiscal_year  # noqa: PLC0415

    user_model = get_user_model()
    mid = Level.objects.get(name="mid")
    emails = [f"a{n}@example.com" for n in range(budgets)]
    with transaction.atomic():
        for email in emails:
            user = user_model.objects.create_user(email, email, "!")
            employee = Employee.objects.create(user=user, level=mid, hire_date=date(2020, 1, 1))
            budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=employee)
            budget_allocate(budget=budget, amount_micros=100 * 10**6, acting_user=None)
    return emails


def post_batches(args, emails: list[str]) -> tuple[list[dict], list[list[int]], float]:
    """Post the batches; returns the coalesced checks a worker received (kwargs), the budgets
    each batch touched, and the ingest seconds."""
    from django.utils import timezone  # noqa: PLC0415 - after django.setup()

    from budgets.models import Budget  # noqa: PLC0415 - after django.setup()
    from budgets.usage import usage_ingest  # noqa: PLC0415 - after django.setup()
    from outbox.models import OutboxMessage  # noqa: PLC0415 - after django.setup()

    budget_of = dict(Budget.objects.values_list("employee__user__email", "pk"))
    rng = random.Random(23)  # noqa: S311 - a reproducible spread, not a secret
    # $100 budgets: the spend per budget crosses every threshold during the run
    cost = f"{200 / (args.batches * args.events / args.budgets):.6f}"
    relayed: list[dict] = []
    touched: list[list[int]] = []
    ingest_seconds = 0.0
    now = datetime.now(UTC)
    for number in range(args.batches):
        named = rng.sample(emails, args.people_per_batch)
        people = [rng.choice(named) for _ in range(args.events)]
        events = [
            {
                "id": f"b{number}-{n}",
                "employee": email,
                "model": "in-house-model",
                "input_tokens": 1_000,
                "output_tokens": 100,
                "cost_usd": cost,
                "occurred_at": (now - timedelta(seconds=number * args.events + n)).isoformat(),
            }
            for n, email in enumerate(people)
        ]
        started = time.perf_counter()
        result = usage_ingest(events=events, source="bench")
        ingest_seconds += time.perf_counter() - started
        assert result.accepted == args.events, result.rejected[:3]
        touched.append(sorted({budget_of[email] for email in people}))
        if (number + 1) % args.relay_every == 0 or number + 1 == args.batches:
            pending = OutboxMessage.objects.filter(
                task="budgets.alerts_check", sent_at__isnull=True
            )
            relayed += list(pending.order_by("pk").values_list("kwargs", flat=True))
            pending.update(sent_at=timezone.now())
    return relayed, touched, ingest_seconds


def timed_rolled_back(work: Callable[[], None]) -> float:
    from django.db import transaction  # noqa: PLC0415 - after django.setup()

    started = time.perf_counter()
    with transaction.atomic():
        work()
        transaction.set_rollback(True)  # the next run sees the same ledger and no claims
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", type=int, default=50)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--events", type=int, default=20, help="events per batch")
    parser.add_argument("--people-per-batch", type=int, default=5, help="people a batch names")
    parser.add_argument("--relay-every", type=int, default=10, help="batches between relays")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        url = setup_django(base_url, Path(tmp))
        try:
            report(args, url)
        finally:
            from django.db import connections  # noqa: PLC0415 - after django.setup()

            connections.close_all()
            if url.startswith("postgres"):
                drop_database(base_url, DATABASE)


def report(args, url: str) -> None:
    from budgets.tasks import alerts_check  # noqa: PLC0415 - after django.setup()

    emails = seed(args.budgets)
    relayed, touched, ingest_seconds = post_batches(args, emails)
    runs: dict[str, list[float]] = {"baseline": [], "coalesced": []}
    for _ in range(args.repeats):
        runs["baseline"].append(
            timed_rolled_back(lambda: [alerts_check(budget_ids=ids) for ids in touched])
        )
        runs["coalesced"].append(timed_rolled_back(lambda: [alerts_check(**k) for k in relayed]))
    rows = [
        ("one per batch (baseline)", len(touched), sum(map(len, touched)), runs["baseline"]),
        ("coalesced per budget (main)", len(relayed), len(relayed), runs["coalesced"]),
    ]
    print(  # noqa: T201
        f"{args.batches} batches of {args.events} events ({args.people_per_batch} people each) "
        f"over {args.budgets} budgets, a relay "
        f"every {args.relay_every} batches ({url.split(':')[0]}; ingest {ingest_seconds:.1f} s)"
    )
    print(f"{'alert checks':<30} {'tasks':>7} {'budget checks':>14} {'run s (median)':>15}")  # noqa: T201
    for name, tasks, checks, seconds in rows:
        print(f"{name:<30} {tasks:>7,} {checks:>14,} {statistics.median(seconds):>15.2f}")  # noqa: T201
    baseline, coalesced = rows[0], rows[1]
    print(  # noqa: T201
        f"coalesced/baseline: tasks {coalesced[1] / max(baseline[1], 1):.2f}, budget checks "
        f"{coalesced[2] / max(baseline[2], 1):.2f}, worker time "
        f"{statistics.median(coalesced[3]) / max(statistics.median(baseline[3]), 1e-9):.2f}"
    )


if __name__ == "__main__":
    main()
