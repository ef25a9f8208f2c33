from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common.errors import AllotError
from compensation.demo import offers_demo_seed
from compensation.models import Offer


class Command(BaseCommand):
    help = "Add a few demo offers (draft, pending, sent, countered) after seed_demo."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when offers already exist."
        )

    def handle(self, *args, **options):
        if not settings.ALLOT_DEMO_ENABLED:
            raise CommandError("Demo data is never made in production settings.")
        if Offer.objects.exists():
            if options["if_empty"]:
                self.stdout.write("Demo offers already present; nothing to do.")
                return
            raise CommandError("Offers already exist; seed_offers_demo fills an empty desk.")
        try:
            count = offers_demo_seed()
        except AllotError as exc:
            if options["if_empty"]:  # `make run` on a database that is not the demo's
                self.stdout.write(f"No demo offers: {exc.message}")
                return
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"Seeded {count} demo offers."))
