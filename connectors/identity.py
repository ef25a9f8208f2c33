"""Who a bucket's usage belongs to: the identity map (provider + kind + external id → employee
or project) read for a page of buckets, and the automatic match of an email to an employee.
HR's mapping, which posts what was held, is `connectors.services.identity_map`."""

from django.db.models import Q
from django.db.models.functions import Lower

from connectors.models import BucketState, IdentityMapping, UnassignedUsage
from people.models import Employee, Project

Mappings = dict[tuple[str, str], IdentityMapping]


def mappings_load(
    provider: str, identities: list[dict[str, str | None]], cache: Mappings | None = None
) -> Mappings:
    """The mappings of every (kind, id) in `identities`, matching emails to employees first.
    With `cache` (one sync run's), mappings found on earlier pages are not read again; those
    not found are asked for on each page, so one HR makes meanwhile is found on the next."""
    wanted = {(kind, value) for ids in identities for kind, value in ids.items() if value}
    if cache is not None:
        wanted -= cache.keys()
    if not wanted:
        return cache if cache is not None else {}
    emails_match(provider, wanted)
    found = mappings_read(provider, wanted)
    if cache is None:
        return found
    cache.update(found)
    return cache


def mappings_read(provider: str, wanted: set[tuple[str, str]]) -> Mappings:
    """The stored mappings of the (kind, id) pairs in `wanted`, with their employee (and a
    project's lead who pays); reads only (a dry run's preview calls it too)."""
    if not wanted:
        return {}
    condition = Q()
    for kind in {kind for kind, _ in wanted}:
        condition |= Q(kind=kind, external_id__in=[v for k, v in wanted if k == kind])
    rows = list(
        IdentityMapping.objects.filter(condition, provider=provider).select_related(
            "employee__team", "employee__user"
        )
    )
    with_project = [m for m in rows if m.project_id]
    if with_project:  # the few that name a project, with its lead who pays
        projects = Project.objects.select_related("lead__team", "lead__user").in_bulk(
            {m.project_id for m in with_project}
        )
        for mapping in with_project:
            mapping.project = projects[mapping.project_id]
    return {(m.kind, m.external_id): m for m in rows}


def emails_match(provider: str, wanted: set[tuple[str, str]]) -> int:
    """Map each identifier that is an email to the employee with that email, once (a mapping
    that exists, by hand or earlier, is left alone). Returns how many were made."""
    emails = {value for _, value in wanted if "@" in value}
    if not emails:
        return 0
    have = set(
        IdentityMapping.objects.filter(provider=provider, external_id__in=emails).values_list(
            "kind", "external_id"
        )
    )
    by_email = {
        e.email_lower: e
        for e in Employee.objects.annotate(email_lower=Lower("user__email")).filter(
            email_lower__in={email.lower() for email in emails}
        )
    }
    made = [
        IdentityMapping(
            provider=provider,
            kind=kind,
            external_id=value,
            employee=by_email[value.lower()],
            matched_automatically=True,
        )
        for kind, value in sorted(wanted)
        if "@" in value and (kind, value) not in have and value.lower() in by_email
    ]
    IdentityMapping.objects.bulk_create(made, ignore_conflicts=True)
    return len(made)


def owner_of(
    identities: dict[str, str | None], order: tuple[str, ...], mappings: Mappings
) -> tuple[Employee | None, Project | None]:
    """The employee who pays and the project charged, from the first mapped identifier in the
    report's order: a mapping's employee, else its project's lead. A project may come from a
    later identifier than the employee (an OpenAI user working in a mapped project)."""
    employee = project = None
    for kind in order:
        mapping = mappings.get((kind, identities.get(kind) or ""))
        if mapping is None:
            continue
        if project is None and mapping.project_id:
            project = mapping.project
        if employee is None:
            employee = mapping.employee or (mapping.project.lead if mapping.project_id else None)
    return employee, project


def unmapped_reason(identities: dict[str, str | None]) -> str:
    named = ", ".join(f"{kind} {value}" for kind, value in identities.items() if value)
    return f"No employee mapped for {named or 'an unnamed group'}."[:300]


def held_for(mapping: IdentityMapping) -> list[UnassignedUsage]:
    """The held buckets that name this identifier, locked (PostgreSQL) in id order, as a sync
    locks them: a bucket a sync posts meanwhile is no longer held when we get it."""
    return list(
        UnassignedUsage.objects.filter(
            connection__provider=mapping.provider,
            state=BucketState.HELD,
            **{f"identities__{mapping.kind}": mapping.external_id},
        )
        .select_related("connection")
        .select_for_update(of=("self",))
        .order_by("pk")
    )
