"""Print the OIDC_OP_* settings for an identity provider, from its discovery document."""

import requests
from django.core.management.base import BaseCommand, CommandError

# (our setting, the discovery document's field)
SETTINGS = (
    ("OIDC_OP_ISSUER", "issuer"),
    ("OIDC_OP_AUTHORIZATION_ENDPOINT", "authorization_endpoint"),
    ("OIDC_OP_TOKEN_ENDPOINT", "token_endpoint"),
    ("OIDC_OP_USER_ENDPOINT", "userinfo_endpoint"),
    ("OIDC_OP_JWKS_ENDPOINT", "jwks_uri"),
)


def discovery_settings(issuer: str, timeout: float = 10) -> dict[str, str]:
    """The provider's endpoints under our setting names; its issuer must be the one asked for."""
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=timeout)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        raise CommandError(f"Could not read {url}: {error}") from error
    if document.get("issuer", "").rstrip("/") != issuer.rstrip("/"):
        raise CommandError(f"{url} names another issuer: {document.get('issuer')!r}")
    missing = [key for _, key in SETTINGS if not document.get(key)]
    if missing:
        raise CommandError(f"{url} has no {', '.join(missing)}")
    return {name: document[key] for name, key in SETTINGS}


class Command(BaseCommand):
    help = "Print the OIDC_OP_* settings (for the environment) of an OpenID provider."

    def add_arguments(self, parser):
        parser.add_argument("issuer", help="e.g. https://company.okta.com")

    def handle(self, *args, issuer: str, **options):
        for name, value in discovery_settings(issuer).items():
            self.stdout.write(f"{name}={value}")
