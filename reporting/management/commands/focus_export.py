from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from common.errors import AllotError
from reporting.focus import FOCUS_VERSION, focus_write


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--{option} {text!r} is not a date: give it as YYYY-MM-DD.") from None


class Command(BaseCommand):
    help = (
        f"Write usage costs of a date range as FOCUS {FOCUS_VERSION} CSV (FinOps tools), "
        "streamed row by row."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="first", required=True, help="First day, YYYY-MM-DD.")
        parser.add_argument("--to", dest="last", required=True, help="Last day (included).")
        parser.add_argument("--output", required=True, help="Where to write the CSV.")

    def handle(self, *args, **options):
        output = Path(options["output"])
        if not output.parent.exists():
            raise CommandError(f"The folder {output.parent} does not exist.")
        first, last = _day(options["first"], "from"), _day(options["last"], "to")
        try:
            with output.open("wb") as out:
                rows = focus_write(out, first, last)
        except AllotError as exc:
            output.unlink(missing_ok=True)
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Wrote {output}: {rows:,} FOCUS rows from {first} to {last}.")
