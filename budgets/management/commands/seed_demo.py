import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date

from budgets.alerts import budget_alerts_record
from budgets.demo import demo_build, demo_write
from budgets.demo.extras import demo_extras_run
from budgets.models import Budget
from people.models import Employee
from people.selectors import company_today, fiscal_year_of, fiscal_year_period


class Command(BaseCommand):
    help = (
        "Fill an empty database with deterministic demo data: an organisation, this fiscal "
        "year's budgets, prices, usage, and the demo sign-ins (password 'demo')."
    )

    def add_arguments(self, parser):
        parser.add_argument("--employees", type=int, default=60)
        parser.add_argument("--events-per-employee", type=int, default=200)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--today", help="Pretend today is this date (YYYY-MM-DD); events stop there."
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing (and succeed) when the database already holds employees.",
        )

    def handle(self, *args, **options):
        if not settings.ALLOT_DEMO_ENABLED:
            raise CommandError("Demo data and demo sign-ins are never made in production settings.")
        if options["employees"] < 0 or options["events_per_employee"] < 0:
            raise CommandError("--employees and --events-per-employee cannot be negative.")
        if Employee.objects.exists():
            if options["if_empty"]:
                self.stdout.write("Demo data already present; nothing to do.")
                return
            raise CommandError(
                "The database already holds employees; seed_demo fills an empty one."
            )
        today = company_today()
        if options["today"]:
            today = parse_date(options["today"])
            if today is None:
                raise CommandError(f"--today {options['today']!r} is not a date (YYYY-MM-DD).")
        fiscal_year = fiscal_year_of(today)
        started = time.perf_counter()
        data = demo_build(
            seed=options["seed"],
            employees=options["employees"],
            events_per_employee=options["events_per_employee"],
            today=today,
            period=fiscal_year_period(fiscal_year),
        )
        built = time.perf_counter()
        counts = demo_write(data, with_demo_sign_ins=True)
        # The demo's budgets arrive part-spent: thresholds they already passed are recorded
        # (and shown on the dashboard) without one message each.
        recorded = budget_alerts_record(
            budget_ids=list(
                Budget.objects.filter(fiscal_year=fiscal_year).values_list("pk", flat=True)
            )
        )
        extras = demo_extras_run(today)
        finished = time.perf_counter()
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded FY{fiscal_year}: {counts['employees']:,} employees, "
                f"{counts['budgets']:,} budgets, {counts['events']:,} usage events, "
                f"{counts['ledger_entries']:,} ledger entries, {recorded:,} alerts already passed "
                f"(recorded, nobody emailed) in {finished - started:.1f}s "
                f"(build {built - started:.1f}s, write {finished - built:.1f}s)."
            )
        )
        for line in extras:
            self.stdout.write(line)
