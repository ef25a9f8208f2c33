from django.core.management.base import BaseCommand, CommandError

from budgets.closing import month_close, month_parse
from common.errors import AllotError


class Command(BaseCommand):
    help = (
        "Close an accounting month: later entries for it are posted in the next open month, "
        "marked late. Reopening needs two finance users, in the admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM")

    def handle(self, *args, **options):
        try:
            closed = month_close(month=month_parse(options["month"]), acting_user=None)
        except AllotError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"{closed.month:%Y-%m} is closed (since {closed.closed_at:%Y-%m-%d %H:%M} UTC)."
        )
