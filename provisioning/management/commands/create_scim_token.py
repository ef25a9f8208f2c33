"""`manage.py create_scim_token NAME [--by USERNAME]`: a bearer token for an identity
provider's SCIM client, printed once (only its SHA-256 is kept). Made by a superuser: the one
named, or the only one there is."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from provisioning.services import scim_token_create


class Command(BaseCommand):
    help = "Make a SCIM bearer token and print it once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="Which identity provider will call with it.")
        parser.add_argument("--by", help="The superuser making it (default: the only one).")

    def handle(self, *args, name: str, by: str | None = None, **options) -> None:
        superusers = get_user_model().objects.filter(is_superuser=True, is_active=True)
        if by:
            creator = superusers.filter(username=by).first()
            if creator is None:
                raise CommandError(f"{by} is not an active superuser.")
        elif superusers.count() == 1:
            creator = superusers.get()
        else:
            raise CommandError("Say which superuser makes the token: --by USERNAME.")
        try:
            _, raw = scim_token_create(name=name, created_by=creator)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"SCIM token {name!r} (shown once, keep it in the provider):")
        self.stdout.write(raw)
