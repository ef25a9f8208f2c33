"""The connectors' services for people: HR maps an identifier, and what was held for it is
posted."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from common.errors import AllotError
from connectors.buckets import held_post
from connectors.identity import held_for
from connectors.models import ClaudeCodeDay, IdentityKind, IdentityMapping
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
