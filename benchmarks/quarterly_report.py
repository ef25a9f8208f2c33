"""How long the quarterly finance report takes at 10,000 employees and 1,000,000 events in the
quarter, stage by stage, against a baseline measured in the same run.

Run on PostgreSQL (the target is measured there); the database named is created, seeded and
kept for another run (pass --reuse to skip seeding when it already holds the data):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/allot_reports_bench \
        .venv/bin/python benchmarks/quarterly_report.py --employees 10000 --events-per-employee 100

seed_demo is run with --today on the last day of the fiscal year's first quarter, so every event
falls in that quarter (Q1 is also the whole year to date). The baseline gathers the same groups
(spend by department, budget, project, model, month, category) the naive way: every event of the
quarter read into Python and summed there; the report gathers every table with grouped SQL.
Targets: data under 5 s, PDF (no appendix) under 20 s.
"""

import argparse
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def prepare(url: str, *, employees: int, per_employee: int, today: str, reuse: bool) -> str:
    import psycopg

    base, name = url.rsplit("/", 1)
    admin = f"{base}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reuse:
            return "reused"
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    for args in (
        ["migrate", "--noinput", "-v0"],
        [
            "seed_demo",
            f"--employees={employees}",
            f"--events-per-employee={per_employee}",
            f"--today={today}",
        ],
    ):
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
    subprocess.run(  # noqa: S603
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.db import connection; connection.cursor().execute('VACUUM ANALYZE')",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--events-per-employee", type=int, default=100)
    parser.add_argument("--today", default="2026-03-31", help="last day of Q1 (January year)")
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    parser.add_argument(
        "--appendix", action="store_true", help="also time the PDF with every budget (no target)"
    )
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (the target is measured there).")
    seeded = prepare(
        url,
        employees=args.employees,
        per_employee=args.events_per_employee,
        today=args.today,
        reuse=args.reuse,
    )

    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    import django

    django.setup()
    from django.db import connection
    from django.db.models import Sum
    from django.utils import timezone
    from django.utils.dateparse import parse_date

    from budgets.models import UsageEvent
    from people.models import Employee
    from people.selectors import fiscal_year_of
    from reporting.rendering import report_csv, report_pdf
    from reporting.selectors import moment, report_data, report_period

    today = parse_date(args.today)
    fiscal_year = fiscal_year_of(today)
    period = report_period(fiscal_year=fiscal_year, quarter=1, today=today)
    start, end = moment(period.quarter_period.start), moment(period.quarter_period.end)
    events = UsageEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=end).count()
    employees = Employee.objects.count()

    # The report: each stage's time from the progress callback.
    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    snapshot = report_data(
        fiscal_year=fiscal_year,
        quarter=1,
        progress=lambda percent, stage: marks.append((stage, time.perf_counter())),
    )
    data_seconds = time.perf_counter() - started
    marks.append(("end", time.perf_counter()))
    queries_started = time.perf_counter()
    pdf = report_pdf(snapshot)
    pdf_seconds = time.perf_counter() - queries_started
    csv_started = time.perf_counter()
    csv_text = report_csv(snapshot)
    csv_seconds = time.perf_counter() - csv_started

    # The baseline: every event of the quarter into Python and the same groups summed there
    # (employee, budget, project, model, month, category), the loop the report avoids.
    department_of = dict(Employee.objects.values_list("id", "team__department__name").order_by())
    baseline_started = time.perf_counter()
    by_department: dict[str | None, int] = defaultdict(int)
    groups: dict[str, dict] = {name: defaultdict(int) for name in ("b", "p", "m", "mo", "c")}
    for employee_id, budget_id, project_id, model, category, cost, occurred in (
        UsageEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .values_list(
            "employee_id",
            "budget_id",
            "project_id",
            "model_name",
            "category",
            "cost_micros",
            "occurred_at",
        )
        .iterator(chunk_size=20_000)
    ):
        by_department[department_of[employee_id]] += cost
        groups["b"][budget_id] += cost
        groups["p"][project_id] += cost
        groups["m"][model] += cost
        groups["mo"][timezone.localtime(occurred).month] += cost
        groups["c"][category] += cost
    baseline_seconds = time.perf_counter() - baseline_started
    report_departments = next(t for t in snapshot["tables"] if t["key"] == "by_department")
    same = report_departments["total"][1] == sum(by_department.values())
    check = UsageEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=end).aggregate(
        total=Sum("cost_micros")
    )["total"]

    print(f"database: {connection.settings_dict['NAME']} ({connection.vendor}); seed: {seeded}")
    print(
        f"FY{fiscal_year} Q1: {employees:,} employees, {events:,} events in the quarter, "
        f"quarter spend ${snapshot['quarter_spend'] / 10**6:,.2f}"
    )
    print()
    print("| stage | seconds |")
    print("|---|---:|")
    for (stage, at), (_, following) in zip(marks, marks[1:], strict=False):
        print(f"| data: {stage} | {following - at:.2f} |")
    print(f"| **data gathered (all tables, SQL aggregates)** | **{data_seconds:.2f}** |")
    print(f"| PDF rendered (WeasyPrint, no appendix; {len(pdf):,} bytes) | {pdf_seconds:.2f} |")
    print(f"| CSV of every table ({len(csv_text):,} bytes) | {csv_seconds:.2f} |")
    print(f"| **whole report (data + PDF)** | **{data_seconds + pdf_seconds:.2f}** |")
    print(
        f"| baseline: the same groups summed in Python over every event (data only) "
        f"| {baseline_seconds:.2f} |"
    )
    if args.appendix:
        appendix_started = time.perf_counter()
        full = report_data(fiscal_year=fiscal_year, quarter=1, include_appendix=True)
        full_pdf = report_pdf(full)
        appendix_seconds = time.perf_counter() - appendix_started
        budgets = len(next(t for t in full["tables"] if t["key"] == "appendix")["rows"])
        print(
            f"| with the appendix ({budgets:,} budgets, {len(full_pdf):,} bytes): data + PDF "
            f"| {appendix_seconds:.2f} |"
        )
    print()
    print(
        f"department totals equal the baseline: {same}; quarter usage equals a plain SUM: "
        f"{check == snapshot['tables'][0]['rows'][0][1]}"
    )
    print(
        f"targets: data under 5 s -> {'met' if data_seconds < 5 else 'MISSED'}; "
        f"PDF under 20 s -> {'met' if data_seconds + pdf_seconds < 20 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
