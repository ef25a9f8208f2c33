"""The connectors' services for people: HR maps an identifier, and what was held for it is
posted; finance queues a connection's sync now."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from common.errors import AllotError
from connectors.buckets import held_post
from connectors.identity import held_for
from connectors.models import ClaudeCodeDay, IdentityKind, IdentityMapping, ProviderConnection
from people.models import Employee, Project


@transaction.atomic
def identity_map(
    *,
    provider: str,
    kind: str,
    external_id: str,
    employee: Employee | None = None,
    project: Project | None = None,
    acting_user: AbstractBaseUser | None = None,
) -> tuple[IdentityMapping, int]:
    """Map an identifier (or change whom it maps to) and post what was held for it, dated when
    it happened. Returns the mapping and how many held buckets it posted. Buckets already
    posted stay with whom they were posted to: a mapping changes what comes next."""
    external_id = (external_id or "").strip()
    if kind == IdentityKind.EMAIL:
        external_id = external_id.lower()  # emails are matched without their case
    if not external_id:
        raise AllotError("Give the provider's identifier.", field="external_id")
    if employee is None and project is None:
        raise AllotError("Map the identifier to an employee or a project.", field="employee")
    if employee is None and project.lead_id is None:
        raise AllotError("This project has no lead to pay for its usage.", field="employee")
    mapping, created = IdentityMapping.objects.update_or_create(
        provider=provider,
        kind=kind,
        external_id=external_id,
        defaults={"employee": employee, "project": project, "matched_automatically": False},
        create_defaults={
            "employee": employee,
            "project": project,
            "created_by": acting_user,
        },
    )
    if kind == IdentityKind.EMAIL:  # the Claude Code days of that email are theirs too
        ClaudeCodeDay.objects.filter(email=external_id).update(employee=mapping.employee)
    held = held_for(mapping)
    return mapping, held_post(held)


def sync_queue(connection: ProviderConnection, acting_user: AbstractBaseUser) -> None:
    """Queue a sync of the connection's reports now (finance's Sync now), after commit. The
    caller checked the user may change connections; a connection that cannot sync says why
    here, before anything is queued. Two at once are safe: the cursors' leases let one run."""
    if not acting_user.has_perm("connectors.change_providerconnection"):
        raise AllotError("Only finance may sync a connection.", code="forbidden")
    if not connection.is_active:
        raise AllotError(f"The {connection} connection is switched off.", field="is_active")
    if not connection.key_is_set:
        raise AllotError(
            f"The environment variable {connection.admin_key_env} (the admin key) is not set.",
            field="admin_key_env",
        )
    # the task calls the sync service, which imports this app: imported here, not above
    from connectors.tasks import usage_sync_one

    ProviderConnection.objects.filter(pk=connection.pk).update(sync_queued_at=timezone.now())
    provider = connection.provider
    transaction.on_commit(lambda: usage_sync_one.delay(provider), robust=True)
