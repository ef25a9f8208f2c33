"""How long the annual rollover takes on PostgreSQL, against the naive path in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/allot_rollover_bench \
        .venv/bin/python benchmarks/rollover.py --budgets 100000

The database named by DATABASE_URL is dropped and made afresh (never point it at real data).
It is seeded with COPY: N employees with a FY2026 personal budget each (allocated from their
level, some of it spent, 3 % of them leavers, 2 % with no FY2026 budget), a few team pools and
projects. Then, in this process and through the same services as the Celery task:

* preview: `rollover_preview` (every owner's plan and the totals, nothing written);
* commit: `rollover_execute` in chunks of 500 budgets per transaction;
* baseline: the same work done naively, one budget at a time with one ORM save per ledger
  entry (budgets.services), on a sample of FY2024 budgets of the same employees (so it does not
  touch the measured year); its rate is extrapolated to N.

Targets: commit of 100,000 budgets under 60 s, preview under 20 s.
"""

import argparse
import io
import os
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LEVELS = {"junior": 50_000, "mid": 100_000, "senior": 150_000, "staff": 250_000}


def fresh_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def copy_rows(cursor, table: str, columns: list[str], rows) -> None:
    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def seed(budgets: int, baseline: int) -> dict:
    """Employees, their FY2026 (and for the baseline sample FY2024) budgets, with COPY."""
    import random

    from django.db import connection, transaction

    from budgets.services import level_allocation_key
    from people.models import Department, Employee, Level, Team

    rng = random.Random(6)  # noqa: S311 - reproducible benchmark data
    levels = {level.name: level for level in Level.objects.all()}
    department = Department.objects.create(name="Engineering")
    teams = [
        Team.objects.create(name=f"Team {n}", department=department, has_pool=n % 10 == 0)
        for n in range(200)
    ]
    now = datetime.now(UTC)
    employees = budgets + budgets // 50  # 2 % more without a FY2026 budget
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM auth_user")
        first_user = cursor.fetchone()[0] + 1
        copy_rows(
            cursor,
            "auth_user",
            ["id", "password", "is_superuser", "username", "first_name", "last_name", "email"]
            + ["is_staff", "is_active", "date_joined"],
            (
                (first_user + n, "!", False, f"b{n}@example.com", "B", str(n), f"b{n}@example.com")
                + (False, True, now)
                for n in range(employees)
            ),
        )
        people = []
        for n in range(employees):
            level = rng.choice(list(LEVELS))
            leaver = rng.random() < 0.03
            people.append(
                (
                    n + 1,
                    first_user + n,
                    levels[level].pk,
                    teams[n % len(teams)].pk,
                    date(2020 + n % 6, 1 + n % 12, 1),
                    date(2026, 9, 30) if leaver else None,
                    not leaver,
                    f"B{n}",
                )
            )
        copy_rows(
            cursor,
            "people_employee",
            ["id", "user_id", "level_id", "team_id", "hire_date", "left_on", "is_active"]
            + ["external_id"],
            people,
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('people_employee', 'id'), %s)", [employees]
        )
        by_level = {level.pk: level.default_annual_budget_micros for level in levels.values()}
        budget_rows, entry_rows = [], []
        budget_id = 0
        for year, count in ((2026, budgets), (2024, baseline)):
            for n in range(count):
                budget_id += 1
                allocated = by_level[people[n][2]]
                spent = allocated * rng.randint(10, 110) // 100
                budget_rows.append(
                    (budget_id, n + 1, None, year, "soft", 0, allocated, spent, 0, 0, now)
                )
                entry_rows.append(
                    (
                        budget_id,
                        "allocation",
                        allocated,
                        now,
                        f"FY{year} allocation",
                        level_allocation_key(employee=Employee(pk=n + 1), fiscal_year=year),
                    )
                )
        for team in teams:
            if team.has_pool:
                budget_id += 1
                budget_rows.append(
                    (budget_id, None, team.pk, 2026, "soft", 0, 50_000 * 10**6, 0, 0, 0, now)
                )
        copy_rows(
            cursor,
            "budgets_budget",
            ["id", "employee_id", "team_id", "fiscal_year", "enforcement", "overdraft_percent"]
            + ["allocated_micros", "spent_micros", "reserved_micros", "carried_over_micros"]
            + ["created_at"],
            budget_rows,
        )
        copy_rows(
            cursor,
            "budgets_ledgerentry",
            ["budget_id", "kind", "amount_micros", "created_at", "memo", "idempotency_key"],
            entry_rows,
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('budgets_budget', 'id'), %s)", [budget_id]
        )
        cursor.execute("ANALYZE")
    return {"employees": employees, "budgets": budget_id}


def naive(sample: int) -> float:
    """One budget at a time, one ORM save per ledger entry, each budget its own transaction."""
    from django.db import transaction

    from budgets.carryover import CarryoverRule, carryover_split
    from budgets.ledger import entry_post
    from budgets.models import Budget, EntryKind
    from budgets.services import budget_allocate, budget_create

    rule = CarryoverRule(share_percent=50)
    started = time.perf_counter()
    for budget in Budget.objects.select_related("employee__level").filter(fiscal_year=2024)[
        :sample
    ]:
        with transaction.atomic():
            budget = Budget.objects.select_for_update().get(pk=budget.pk)
            employee = budget.employee
            split = carryover_split(
                unused_micros=budget.allocated_micros - budget.spent_micros,
                rule=rule,
                next_allocation_micros=employee.level.default_annual_budget_micros,
            )
            for kind, amount in (
                (EntryKind.CARRYOVER_OUT, split.carried_micros),
                (EntryKind.FORFEITURE, split.forfeited_micros),
            ):
                if amount:
                    entry_post(budget=budget, kind=kind, amount_micros=-amount, acting_user=None)
            if employee.is_active:
                new, _ = budget_create(fiscal_year=2025, employee=employee)
                if split.carried_micros:
                    budget_allocate(
                        budget=new,
                        amount_micros=split.carried_micros,
                        acting_user=None,
                        kind=EntryKind.CARRYOVER_IN,
                    )
                budget_allocate(
                    budget=new,
                    amount_micros=employee.level.default_annual_budget_micros,
                    acting_user=None,
                    idempotency_key=f"naive:{employee.pk}:2025",
                )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--budgets", type=int, default=100_000)
    parser.add_argument("--baseline-budgets", type=int, default=2_000)
    parser.add_argument("--chunk-size", type=int, default=500)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database this script may drop and recreate.")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["LOG_LEVEL"] = "WARNING"
    fresh_database(url)

    import django

    django.setup()
    from django.core.management import call_command

    from budgets.models import LedgerEntry, RolloverItem
    from budgets.rollover import rollover_confirm, rollover_execute, rollover_preview

    call_command("migrate", "--noinput", verbosity=0, stdout=io.StringIO())
    started = time.perf_counter()
    counts = seed(args.budgets, args.baseline_budgets)
    seed_seconds = time.perf_counter() - started

    baseline_seconds = naive(args.baseline_budgets)

    started = time.perf_counter()
    run = rollover_preview(fiscal_year=2026, acting_user=None)
    preview_seconds = time.perf_counter() - started

    run = rollover_confirm(run=run, acting_user=None, enqueue=False)
    started = time.perf_counter()
    result = rollover_execute(run=run, chunk_size=args.chunk_size)
    commit_seconds = time.perf_counter() - started

    started = time.perf_counter()
    again = rollover_execute(run=run)
    again_seconds = time.perf_counter() - started

    owners = result.run.owners_done
    entries = LedgerEntry.objects.filter(rollover_run=run).count()
    assert RolloverItem.objects.filter(run=run).count() == owners == run.owners_total
    assert again.already_done
    naive_rate = args.baseline_budgets / baseline_seconds
    print(
        f"seeded {counts['employees']:,} employees and {counts['budgets']:,} budgets "
        f"in {seed_seconds:.1f} s; {owners:,} owners rolled over, {entries:,} ledger entries"
    )
    print()
    print("| path | budgets | seconds | budgets/s |")
    print("|---|---:|---:|---:|")
    print(
        f"| preview (`rollover_preview`, nothing written) | {owners:,} | {preview_seconds:.1f} "
        f"| {owners / preview_seconds:,.0f} |"
    )
    print(
        f"| commit (`rollover_execute`, {args.chunk_size} per transaction) | {owners:,} "
        f"| {commit_seconds:.1f} | {owners / commit_seconds:,.0f} |"
    )
    print(f"| commit again (already done: nothing changes) | {owners:,} | {again_seconds:.3f} | |")
    print(
        f"| baseline: one ORM save per entry, budget by budget | {args.baseline_budgets:,} "
        f"| {baseline_seconds:.1f} | {naive_rate:,.0f} |"
    )
    print(
        f"| baseline extrapolated to {owners:,} | {owners:,} | {owners / naive_rate:,.0f} "
        f"| {naive_rate:,.0f} |"
    )
    print()
    print(
        f"commit / baseline: {owners / commit_seconds / naive_rate:.1f}x faster; targets: "
        f"commit under 60 s -> {'met' if commit_seconds < 60 else 'MISSED'}, "
        f"preview under 20 s -> {'met' if preview_seconds < 20 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
