"""The admin's usage list exported to CSV and XLSX (issue 20): 100,000 usage rows through the
admin's own export path (the list's queryset with its filters, the export resource, the format),
against a baseline in the same run: a plain csv.writer over values_list of the same rows.

Run on PostgreSQL; the database named is created and seeded with seed_demo, or reused with --reuse:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/allot_h20c_bench \
        .venv/bin/python benchmarks/admin_export.py --employees 1000 --events-per-employee 100

Rate: each export timed without tracemalloc; peak memory: tracemalloc's peak in a second run.
"""

import argparse
import csv
import io
import os
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.quarterly_report import prepare  # noqa: E402


def measured(run) -> tuple[int, float, float]:
    started = time.perf_counter()
    rows = run()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return rows, seconds, peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--employees", type=int, default=1_000)
    parser.add_argument("--events-per-employee", type=int, default=100)
    parser.add_argument("--today", default="2026-11-30")
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    parser.add_argument("--xlsx", action="store_true", help="also the XLSX export (slow)")
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
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory
    from import_export.formats.base_formats import CSV, XLSX

    from budgets.models import UsageEvent

    model_admin = admin.site._registry[UsageEvent]
    request = RequestFactory().get("/admin/budgets/usageevent/export/")
    request.user = get_user_model().objects.filter(is_superuser=True).first()
    queryset = model_admin.get_export_queryset(request)
    total = queryset.count()

    def baseline() -> int:
        out = io.StringIO()
        writer = csv.writer(out)
        count = 0
        for row in queryset.values_list(
            "id", "occurred_at", "source", "event_id", "employee__user__email",
            "project__code", "model_name", "category", "input_tokens", "output_tokens",
            "cached_input_tokens", "cost_micros", "budget_id",
        ).iterator(chunk_size=2000):  # fmt: skip
            writer.writerow(row)
            count += 1
        return count

    def admin_export(file_format):
        def run() -> int:
            data = model_admin.get_export_data(file_format(), request, queryset)
            assert len(data) > 0
            return total

        return run

    def admin_streamed() -> int:
        response = model_admin._do_file_export(CSV(), request, queryset)
        lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
        assert lines == total + 1, lines
        return total

    print(f"{total:,} usage rows ({args.employees:,} employees)")
    print("| export | rows | seconds | rows/s | peak MB |\n|---|---:|---:|---:|---:|")
    runs = [
        ("baseline: csv.writer over values_list", baseline),
        ("admin export CSV, streamed (what the admin's Export does)", admin_streamed),
        ("admin export CSV, whole tablib dataset (before)", admin_export(CSV)),
    ]
    if args.xlsx:
        runs.append(("admin export XLSX", admin_export(XLSX)))
    for label, run in runs:
        rows, seconds, peak = measured(run)
        print(f"| {label} | {rows:,} | {seconds:.2f} | {rows / seconds:,.0f} | {peak:,.0f} |")


if __name__ == "__main__":
    main()
