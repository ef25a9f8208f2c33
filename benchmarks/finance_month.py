"""Finance's month at 10,000 employees and 1,000,000 events in the year: the month's journal
export (target under 10 s) and the year's FOCUS file (target at least 50,000 rows/s, memory flat
however many rows).

Run on PostgreSQL; the database named is created and seeded with seed_demo (a fiscal year from
January to --today), or reused with --reuse:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/allot_h22 \
        .venv/bin/python benchmarks/finance_month.py --employees 10000 --events-per-employee 100

Memory: tracemalloc's peak while writing the FOCUS file of one month and of ten months (about
ten times the rows); streaming keeps the two peaks alike. Rate: the whole year without
tracemalloc (which slows Python down several times).
"""

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.quarterly_report import prepare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--events-per-employee", type=int, default=100)
    parser.add_argument("--today", default="2026-11-30", help="the seeded year's last day")
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    parser.add_argument("--output-dir", default=tempfile.gettempdir())
    parser.add_argument("--journal-only", action="store_true", help="skip the FOCUS file")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (the targets are measured there).")
    seeded = prepare(
        url,
        employees=args.employees,
        per_employee=args.events_per_employee,
        today=args.today,
        reuse=args.reuse,
    )
    print(f"seed: {seeded}")

    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    import django

    django.setup()
    from budgets.closing import month_close
    from budgets.models import LedgerEntry, UsageEvent
    from people.models import Employee, Team
    from reporting.focus import focus_write
    from reporting.journal import entries_posted_in, journal_csv

    # Every team its own cost centre, as finance would set them (seed_demo leaves them blank).
    for team in Team.objects.filter(cost_centre=""):
        team.cost_centre = f"CC-{team.pk:04d}"
        team.save(update_fields=["cost_centre"])
    today = date.fromisoformat(args.today)
    month = today.replace(day=1)
    month_close(month=month, acting_user=None)
    entries = LedgerEntry.objects.filter(entries_posted_in(month)).count()
    print(f"{Employee.objects.count():,} employees, {UsageEvent.objects.count():,} events")

    started = time.perf_counter()
    journal = journal_csv(month)
    seconds = time.perf_counter() - started
    again = journal_csv(month)
    print(
        f"journal {month:%Y-%m}: {entries:,} ledger entries, {journal.count(chr(10)) - 1:,} "
        f"lines, {seconds:.2f} s (target < 10 s); identical on a second export: {journal == again}"
    )

    if args.journal_only:
        return
    out_dir = Path(args.output_dir)
    year_start = date(today.year, 1, 1)
    started = time.perf_counter()
    with (out_dir / "focus-year.csv").open("wb") as out:
        rows = focus_write(out, year_start, today)
    seconds = time.perf_counter() - started
    size = (out_dir / "focus-year.csv").stat().st_size
    print(
        f"FOCUS {year_start} to {today}: {rows:,} rows in {seconds:.1f} s = "
        f"{rows / seconds:,.0f} rows/s (target >= 50,000), {size / 1e6:,.0f} MB"
    )

    for first in (date(today.year, today.month, 1), date(today.year, today.month - 9, 1)):
        tracemalloc.start()
        with (out_dir / "focus-part.csv").open("wb") as out:
            rows = focus_write(out, first, today)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"FOCUS {first} to {today}: {rows:,} rows, tracemalloc peak {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
