"""Total rewards statements for every employee (issue 22): the background batch (one PDF each,
then one zip), its rate and its memory, against a baseline in the same run: the same statements
made one at a time as the PDF view makes them (a new font set-up for each, nothing shared).

Run on PostgreSQL; the database named is created and seeded with seed_demo and pay records, or
reused with --reuse:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/allot_rewards_bench \
        .venv/bin/python benchmarks/rewards_statements.py --employees 1000

Memory: the process's resident set, sampled every half second while the batch runs; flat means
the last tenth of the batch peaks no higher than the first tenth did.
"""

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.quarterly_report import prepare  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 1e6


class Sampler(threading.Thread):
    """RSS every half second, with the run's progress (done) at that moment."""

    def __init__(self, progress) -> None:
        super().__init__(daemon=True)
        self.progress, self.samples, self.stopped = progress, [], threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.5):
            self.samples.append((self.progress(), rss_mb()))

    def peak_between(self, low: int, high: int) -> float:
        within = [mb for done, mb in self.samples if low <= done <= high]
        return max(within) if within else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--employees", type=int, default=1_000)
    parser.add_argument("--events-per-employee", type=int, default=5)
    parser.add_argument("--baseline", type=int, default=50, help="statements in the baseline")
    parser.add_argument("--today", default="2026-11-30")
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database.")
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
    import tempfile

    import time_machine
    from django.conf import settings

    from compensation.demo import pay_records_demo_seed
    from compensation.models import StatementRun
    from compensation.rewards import rewards_statement, statement_pdf
    from compensation.statements import (
        statement_employees,
        statement_run_make,
        statement_run_request,
    )

    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="rewards-bench-")
    print(f"pay records made: {pay_records_demo_seed():,}")
    with time_machine.travel(f"{args.today} 18:00:00+00:00", tick=True):
        employees = list(statement_employees(2026).order_by("pk")[: args.baseline])
        started = time.perf_counter()
        for employee in employees:
            statement_pdf(rewards_statement(employee=employee, fiscal_year=2026))
        base_seconds = time.perf_counter() - started

        run = statement_run_request(fiscal_year=2026, acting_user=None, enqueue=False)
        sampler = Sampler(lambda: StatementRun.objects.get(pk=run.pk).done)
        start_rss = rss_mb()
        sampler.start()
        started = time.perf_counter()
        run = statement_run_make(run=run)
        seconds = time.perf_counter() - started
        sampler.stopped.set()
    zip_mb = Path(run.archive.path).stat().st_size / 1e6
    tenth = max(1, run.done // 10)
    first, last = sampler.peak_between(0, tenth), sampler.peak_between(run.done - tenth, run.done)
    print(f"{run.done:,} statements ({run.without_pay:,} without pay), zip {zip_mb:,.1f} MB")
    print("| path | statements | seconds | statements/s | ms each |\n|---|---:|---:|---:|---:|")
    for label, count, secs in (
        ("baseline: one at a time, as the PDF view", len(employees), base_seconds),
        ("batch (StatementRun, shared fonts, zip)", run.done, seconds),
    ):
        rate, each = count / secs, secs / count * 1000
        print(f"| {label} | {count:,} | {secs:,.1f} | {rate:,.2f} | {each:,.0f} |")
    pdf = run.timings.get("pdf_seconds", 0)
    print(f"batch: PDF rendering {pdf:,.1f} s of {seconds:,.1f} s ({pdf / seconds:.0%})")
    print(
        f"memory (RSS): {start_rss:,.0f} MB at the start; peak {first:,.0f} MB in the first "
        f"tenth, {last:,.0f} MB in the last tenth, {max(mb for _, mb in sampler.samples):,.0f} "
        "MB overall"
    )


if __name__ == "__main__":
    main()
