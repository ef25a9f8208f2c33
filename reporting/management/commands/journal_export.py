from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from budgets.closing import month_parse
from common.errors import AllotError
from reporting.journal import journal_csv


class Command(BaseCommand):
    help = "Write a closed month's journal (balanced debits and credits by cost centre) as CSV."

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM (a closed month)")
        parser.add_argument("--output", required=True, help="Where to write the CSV.")

    def handle(self, *args, **options):
        output = Path(options["output"])
        if not output.parent.exists():
            raise CommandError(f"The folder {output.parent} does not exist.")
        try:
            text = journal_csv(month_parse(options["month"]))
        except AllotError as exc:
            raise CommandError(exc.message) from exc
        output.write_bytes(text.encode("utf-8"))
        lines = text.count("\r\n") - 1
        self.stdout.write(f"Wrote {output}: {lines:,} journal lines.")
