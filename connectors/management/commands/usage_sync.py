from datetime import date

from django.core.management.base import BaseCommand, CommandError

from common.errors import AllotError
from connectors.models import Provider
from connectors.preview import attribution_table
from connectors.sync import usage_sync


class Command(BaseCommand):
    help = (
        "Read a provider's usage reports (Anthropic's Admin API, OpenAI's organization API) into "
        "Allot, through the same ingest as the API. Safe to run again: buckets read before with "
        "the same numbers change nothing, restated ones post only the difference."
    )

    def add_arguments(self, parser):
        parser.add_argument("provider", choices=Provider.values)
        parser.add_argument(
            "--since", type=date.fromisoformat, help="Read from this day (UTC), YYYY-MM-DD."
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=(
                "Say what would change and who each bucket would be posted to (the identity "
                "map, emails and the provider's directory), or that it would stay unassigned; "
                "write nothing."
            ),
        )

    def handle(self, *args, provider: str, since: date | None, dry_run: bool, **options):
        try:
            outcomes = usage_sync(
                provider, since=since, dry_run=dry_run, progress=self.stdout.write
            )
        except AllotError as error:
            raise CommandError(error.message) from error
        for outcome in outcomes:
            summary = outcome.skipped or f"{outcome.pages} pages, {outcome.totals.line()}"
            self.stdout.write(f"{provider} {outcome.report}: {summary}")
            for problem in outcome.totals.problems:
                self.stderr.write(f"  {problem}")
            if dry_run and outcome.attributions:
                self.stdout.write(f"{provider} {outcome.report}: who each bucket would go to")
                for line in attribution_table(list(outcome.attributions.values())):
                    self.stdout.write(f"  {line}")
        if dry_run:
            self.stdout.write("Dry run: nothing was written.")
