import shutil
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from common.errors import AllotError
from compensation.rewards import rewards_statement, statement_pdf
from compensation.statements import statement_run_make, statement_run_request
from people.models import Employee
from people.selectors import company_today, fiscal_year_of


class Command(BaseCommand):
    help = (
        "Total rewards statements for a fiscal year: one employee's PDF (--employee), or every "
        "employee's as a zip (the same run as /rewards/ makes, listed there)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fiscal-year", type=int, help="Default: the current fiscal year.")
        parser.add_argument("--employee", help="One employee's work email: their PDF only.")
        parser.add_argument("--output", required=True, help="The PDF (one) or the zip (all).")

    def handle(self, *args, **options):
        output = Path(options["output"])
        if not output.parent.exists():
            raise CommandError(f"The folder {output.parent} does not exist.")
        year = options["fiscal_year"] or fiscal_year_of(company_today())
        if options["employee"]:
            employee = Employee.objects.filter(user__email__iexact=options["employee"]).first()
            if employee is None:
                raise CommandError(f"No employee signs in as {options['employee']}.")
            statement = rewards_statement(employee=employee, fiscal_year=year)
            output.write_bytes(statement_pdf(statement))
            self.stdout.write(f"Wrote {output}: {statement.name}, FY{year}.")
            return
        try:
            run = statement_run_request(fiscal_year=year, acting_user=None, enqueue=False)
        except AllotError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Making {run.total:,} statements for FY{year} (run #{run.pk})...")
        run = statement_run_make(run=run)
        with run.archive.open("rb") as archive, output.open("wb") as target:
            shutil.copyfileobj(archive, target)
        self.stdout.write(
            f"Wrote {output}: {run.done:,} statements ({run.without_pay:,} without a pay record) "
            f"in {run.timings.get('seconds', 0):.1f} s."
        )
