from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from common.errors import AllotError
from reporting.models import RunTrigger
from reporting.rendering import report_csv
from reporting.services import report_run_build, report_run_request


class Command(BaseCommand):
    help = (
        "Build a fiscal quarter's finance report now (the same run as /reports/ makes, listed "
        "there) and write its PDF to a file."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fiscal-year", type=int, required=True)
        parser.add_argument("--quarter", type=int, required=True, choices=[1, 2, 3, 4])
        parser.add_argument("--output", required=True, help="Where to write the PDF.")
        parser.add_argument("--csv", help="Also write every table as CSV to this file.")
        parser.add_argument(
            "--appendix", action="store_true", help="Add the appendix with every budget."
        )

    def handle(self, *args, **options):
        output = Path(options["output"])
        if not output.parent.exists():
            raise CommandError(f"The folder {output.parent} does not exist.")
        try:
            run = report_run_request(
                fiscal_year=options["fiscal_year"],
                quarter=options["quarter"],
                include_appendix=options["appendix"],
                acting_user=None,
                trigger=RunTrigger.COMMAND,
                enqueue=False,
            )
        except AllotError as exc:
            raise CommandError(exc.message) from exc
        run = report_run_build(run=run)
        with run.pdf.open("rb") as pdf:
            output.write_bytes(pdf.read())
        if options["csv"]:
            Path(options["csv"]).write_text(report_csv(run.snapshot), encoding="utf-8")
        timings = ", ".join(
            f"{k.removesuffix('_seconds')} {v:.2f} s" for k, v in run.timings.items()
        )
        self.stdout.write(
            f"Wrote {output} ({output.stat().st_size:,} bytes): {run.period_label}, run #{run.pk}"
            f" ({timings})."
        )
