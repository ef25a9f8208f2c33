"""How long HR's bulk import of employees takes on PostgreSQL: preview and commit of a CSV of N
new employees, against the admin's add form one person at a time in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/allot_import_bench \
        .venv/bin/python benchmarks/employee_import.py --employees 10000

The database named by DATABASE_URL is dropped and made afresh (never point it at real data).
The file: N rows with email, names, level, team, manager_email (a tree: one head, a manager per
ten people, each listed after some of their reports so the import must resolve managers
further down the file), hire date, external id. Timed in this process, through the same
resource the admin's Import page uses (people.imports.EmployeeResource):

* preview: `import_data(dry_run=True)`, what the admin does when the file is uploaded;
* commit: `import_data(dry_run=False)`, what "Confirm import" does;
* baseline: the admin's add form (`EmployeeCreationForm`, one save per person) for a sample,
  extrapolated to N.

Target: preview and commit of 10,000 employees together under 60 s.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fresh_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def rows(count: int, teams: list[str], levels: list[str]) -> list[list[str]]:
    """A management tree: person i reports to person (i - 1) // 10, and each block of ten is
    written before its manager's row, so most managers come further down the file."""
    people = []
    for i in range(count):
        manager = f"person{(i - 1) // 10}@example.com" if i else ""
        people.append(
            [
                f"person{i}@example.com",
                f"First{i}",
                f"Last{i}",
                levels[i % len(levels)],
                teams[i % len(teams)],
                manager,
                f"20{10 + i % 15:02d}-0{1 + i % 9}-1{i % 9}",
                f"HR-{i:06d}",
                "yes" if i % 7 == 0 else "no",
            ]
        )
    return people[::-1]  # reports first, the head last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=200, help="people through the add form")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database this script may drop and recreate.")
    fresh_database(url)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    import django

    django.setup()
    import tablib
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    from people.admin import EmployeeCreationForm
    from people.imports import COLUMNS, EmployeeResource
    from people.models import Department, Employee, Level, Team

    levels = [
        Level.objects.get_or_create(
            name=name, defaults={"rank": rank, "default_annual_budget_micros": budget * 10**6}
        )[0].name
        for rank, (name, budget) in enumerate(
            [("junior", 50_000), ("mid", 100_000), ("senior", 150_000)], start=1
        )
    ]
    department = Department.objects.create(name="Engineering")
    teams = [Team.objects.create(name=f"Team {t}", department=department).name for t in range(40)]
    data = tablib.Dataset(*rows(args.employees, teams, levels), headers=list(COLUMNS))

    started = time.perf_counter()
    preview = EmployeeResource().import_data(data, dry_run=True)
    preview_s = time.perf_counter() - started
    assert not preview.has_errors() and not preview.has_validation_errors(), preview
    assert Employee.objects.count() == 0
    started = time.perf_counter()
    commit = EmployeeResource().import_data(data, dry_run=False)
    commit_s = time.perf_counter() - started
    assert commit.totals["new"] == args.employees, commit.totals
    unmanaged = Employee.objects.filter(manager__isnull=True).count()
    assert unmanaged == 1, unmanaged  # only the head

    level = Level.objects.get(name="mid")
    team = Team.objects.get(name="Team 0")
    started = time.perf_counter()
    for i in range(args.baseline):
        form = EmployeeCreationForm(
            {
                "email": f"form{i}@example.com",
                "first_name": "Form",
                "last_name": f"Person{i}",
                "level": level.pk,
                "team": team.pk,
                "hire_date": "2024-01-15",
            }
        )
        assert form.is_valid(), form.errors
        form.save()
    baseline_s = time.perf_counter() - started
    baseline_rate = args.baseline / baseline_s

    n = args.employees
    print(f"\n{n:,} employees in a CSV (managers resolved further down the file)\n")
    table = [
        ("preview (`import_data(dry_run=True)`)", n, preview_s),
        ("commit (`import_data`)", n, commit_s),
        ("baseline: the admin's add form, one at a time", args.baseline, baseline_s),
        (f"baseline extrapolated to {n:,}", n, n / baseline_rate),
    ]
    print("| path | employees | seconds | employees/s |")
    print("|---|---:|---:|---:|")
    for label, count, seconds in table:
        print(f"| {label} | {count:,} | {seconds:.1f} | {count / seconds:,.0f} |")
    total = preview_s + commit_s
    verdict = "met" if total < 60 else "MISSED"
    print(f"\npreview + commit: {total:.1f} s; target under 60 s -> {verdict}")


if __name__ == "__main__":
    main()
