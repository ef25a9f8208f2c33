"""The providers' directories, read so that API keys and users map to employees by email by
themselves (beyond the Claude Code report's emails, `identity.emails_match`):

- OpenAI, List users (`GET /v1/organization/users`, query `limit` 1-100 and `after`): {object:
  "list", data: [{object: "organization.user", id, name, email, role, added_at}], first_id,
  last_id, has_more}. A user's `id` is the completions report's `user_id`.
- Anthropic, List Users (`GET /v1/organizations/users`, query `limit` 1-1000 and `after_id`):
  {data: [{type: "user", id, email, name, role, added_at}], first_id, last_id, has_more}; and
  List API Keys (`GET /v1/organizations/api_keys`, same paging): {data: [{type: "api_key", id,
  name, created_at, created_by: {id, type}, partial_key_hint, status, workspace_id}], ...}. A
  key's `id` is the messages report's `api_key_id`; its creator, when a user, gives the email.

Each identifier whose email is an employee's gets a mapping marked automatic, unless one exists
(HR's mappings, and earlier ones, are left alone); then what was held for it is posted."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models.functions import Lower

from connectors.buckets import held_post
from connectors.client import MAX_PAGES, Client, ProviderError
from connectors.identity import held_for
from connectors.models import IdentityKind, IdentityMapping, Provider
from people.models import Employee

OPENAI_USERS = "/v1/organization/users"
ANTHROPIC_USERS = "/v1/organizations/users"
ANTHROPIC_KEYS = "/v1/organizations/api_keys"


@dataclass
class DirectoryOutcome:
    read: int = 0  # identifiers with an email read from the provider
    mapped: int = 0  # mappings made
    posted: int = 0  # held buckets those mappings posted

    def line(self) -> str:
        return (
            f"{self.read} identifiers with an email, {self.mapped} mapped to employees by "
            f"email, {self.posted} held buckets posted"
        )


def listed(client: Client, path: str, limit: int, after: str) -> Iterator[dict[str, Any]]:
    """Every item of a list endpoint paged by id: `after` (OpenAI) or `after_id` (Anthropic)
    is the page's last_id while has_more."""
    params = [("limit", str(limit))]
    for _ in range(MAX_PAGES):
        body = client.get(path, params)
        yield from body.get("data") or []
        last = body.get("last_id")
        if not body.get("has_more") or not last:
            return
        params = [("limit", str(limit)), (after, last)]
    raise ProviderError(f"{path} gave more than {MAX_PAGES:,} pages; stopped.")


def directory_emails(client: Client, provider: str) -> dict[tuple[str, str], str]:
    """(kind, external id) -> email, from the provider's directory."""
    if provider == Provider.OPENAI:
        return {
            (IdentityKind.USER, user["id"]): user["email"]
            for user in listed(client, OPENAI_USERS, 100, "after")
            if user.get("id") and user.get("email")
        }
    users = {
        user["id"]: user["email"]
        for user in listed(client, ANTHROPIC_USERS, 1000, "after_id")
        if user.get("id") and user.get("email")
    }
    found = {}
    for key in listed(client, ANTHROPIC_KEYS, 1000, "after_id"):
        creator = key.get("created_by") or {}
        email = users.get(creator.get("id")) if creator.get("type") == "user" else None
        if key.get("id") and email:
            found[(IdentityKind.API_KEY, key["id"])] = email
    return found


def directory_match(client: Client, provider: str) -> DirectoryOutcome:
    """Read the directory (see the module's docstring), map what matches, post what was held."""
    emails = directory_emails(client, provider)
    outcome = DirectoryOutcome(read=len(emails))
    if not emails:
        return outcome
    by_email = {
        e.email_lower: e
        for e in Employee.objects.annotate(email_lower=Lower("user__email")).filter(
            email_lower__in={email.lower() for email in emails.values()}
        )
    }
    with transaction.atomic():
        have = set(
            IdentityMapping.objects.filter(
                provider=provider, external_id__in=[i for _, i in emails]
            ).values_list("kind", "external_id")
        )
        made = IdentityMapping.objects.bulk_create(
            [
                IdentityMapping(
                    provider=provider,
                    kind=kind,
                    external_id=external_id,
                    employee=by_email[email.lower()],
                    matched_automatically=True,
                )
                for (kind, external_id), email in sorted(emails.items())
                if (kind, external_id) not in have and email.lower() in by_email
            ],
            ignore_conflicts=True,
        )
        outcome.mapped = len(made)
        for mapping in made:
            outcome.posted += held_post(held_for(mapping))
    return outcome
