from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from budgets.models import ApiScope, IntegrationKey


class Command(BaseCommand):
    help = "Create an API key for a gateway and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who uses it, e.g. 'LiteLLM proxy'.")
        parser.add_argument(
            "--source",
            help="Names the gateway; event ids are unique per source (default: from the name).",
        )
        parser.add_argument(
            "--scopes",
            default="ingest,authorize",
            help=f"Comma-separated, from: {', '.join(ApiScope.values)} (default ingest,authorize).",
        )

    def handle(self, *args, name: str, source: str | None, scopes: str, **options):
        wanted = [scope.strip() for scope in scopes.split(",") if scope.strip()]
        unknown = sorted(set(wanted) - set(ApiScope.values))
        if unknown:
            raise CommandError(f"Unknown scope(s): {', '.join(unknown)}.")
        source = slugify(source or name)
        if not source:
            raise CommandError("Give the key a name (or --source) with letters or digits.")
        _, key = IntegrationKey.objects.create_key(name=name[:50], source=source, scopes=wanted)
        self.stdout.write(f"API key for {name!r} (source {source!r}, scopes {', '.join(wanted)}):")
        self.stdout.write(key)
        self.stdout.write("Store it now: it cannot be shown again. Send it as 'Api-Key <key>'.")
