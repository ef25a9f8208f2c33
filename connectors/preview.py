"""A dry run's attribution: who each bucket read would be posted to, and what would stay in the
unassigned queue, from the identity directory as a real run would find it, without writing.

A real run finds a bucket's owner in three places, in this order: the identity map (HR's
mappings and earlier automatic ones), an identifier that is itself an employee's email (the
Claude Code report's, an OpenAI user named by email), and, after the reports, the provider's
directory (OpenAI's users, Anthropic's users and API keys: `connectors.directory`), whose
matches post what was held. The preview reads the same three (the directory with GETs only)
and makes its matches in memory: unsaved mappings that `identity.owner_of` reads as it reads
stored ones. Each group of identifiers is one line of the table, its buckets counted and their
cost estimated as the run would (the provider's cost, else the price table's)."""

from dataclasses import dataclass
from datetime import date

from django.db.models.functions import Lower

from common.money import format_usd
from connectors.buckets import PriceBook, cost_of
from connectors.identity import Mappings, mappings_read, owner_of, unmapped_reason
from connectors.models import IdentityKind, IdentityMapping
from connectors.reports import BucketRow, ReportSpec
from people.models import Employee, Project

# how a (kind, id) came to be mapped in the preview, by the mapping's `preview_via`
VIA_MAP, VIA_EMAIL, VIA_DIRECTORY = "identity map", "its email", "the provider's directory"


@dataclass
class Attribution:
    """One group of identifiers (e.g. an API key and its workspace) over the buckets read."""

    identities: dict[str, str | None]
    employee: Employee | None
    project: Project | None
    via: str  # how the owner was found (VIA_*), "" when unassigned
    reason: str  # why it would stay unassigned, "" when attributed
    buckets: int = 0
    first_day: date | None = None
    last_day: date | None = None
    estimated_micros: int = 0
    unpriced: int = 0  # buckets neither the provider nor the price table prices

    def add(self, row: BucketRow, cost: int | None) -> None:
        day = row.starts_at.date()
        self.buckets += 1
        self.first_day = min(self.first_day or day, day)
        self.last_day = max(self.last_day or day, day)
        if cost is None:
            self.unpriced += 1
        else:
            self.estimated_micros += cost

    @property
    def identifier(self) -> str:
        labels = dict(IdentityKind.choices)
        named = [f"{labels.get(k, k)} {v}" for k, v in self.identities.items() if v]
        return ", ".join(named) or "(no identifier)"

    @property
    def days(self) -> str:
        if self.first_day == self.last_day:
            return f"{self.first_day:%Y-%m-%d}"
        return f"{self.first_day:%Y-%m-%d} to {self.last_day:%Y-%m-%d}"

    @property
    def attributed_to(self) -> str:
        if self.employee is None:
            return f"UNASSIGNED: {self.reason}"
        project = f", project {self.project.code}" if self.project is not None else ""
        return f"{self.employee.user.email}{project} (by {self.via})"


def _in_memory(provider: str, kind: str, external_id: str, employee: Employee, via: str):
    mapping = IdentityMapping(
        provider=provider,
        kind=kind,
        external_id=external_id,
        employee=employee,
        matched_automatically=True,
    )
    mapping.preview_via = via
    return mapping


def preview_mappings(
    provider: str, wanted: set[tuple[str, str]], directory: dict[tuple[str, str], str]
) -> Mappings:
    """The mappings a run would use for `wanted`: the stored ones, then (in memory) the
    identifiers that are an employee's email, then those the directory gives an email of."""
    found = mappings_read(provider, wanted)
    for mapping in found.values():
        mapping.preview_via = VIA_MAP
    emails: dict[tuple[str, str], tuple[str, str]] = {}
    for kind, value in wanted - found.keys():
        if "@" in value:
            emails[(kind, value)] = (value, VIA_EMAIL)
        elif (kind, value) in directory:
            emails[(kind, value)] = (directory[(kind, value)], VIA_DIRECTORY)
    if not emails:
        return found
    by_email = {
        e.email_lower: e
        for e in Employee.objects.select_related("user", "team")
        .annotate(email_lower=Lower("user__email"))
        .filter(email_lower__in={email.lower() for email, _ in emails.values()})
    }
    for (kind, value), (email, via) in emails.items():
        employee = by_email.get(email.lower())
        if employee is not None:
            found[(kind, value)] = _in_memory(provider, kind, value, employee, via)
    return found


def _via(identities: dict, order: tuple[str, ...], mappings: Mappings) -> str:
    for kind in order:
        mapping = mappings.get((kind, identities.get(kind) or ""))
        if mapping is not None:
            return f"{dict(IdentityKind.choices).get(kind, kind)}, {mapping.preview_via}"
    return ""


def attribution_add(
    attributions: dict[tuple, Attribution],
    provider: str,
    spec: ReportSpec,
    rows: list[BucketRow],
    directory: dict[tuple[str, str], str],
) -> None:
    """Count a page's rows into `attributions` (keyed by the group's identifiers), each group's
    owner found once (see the module's docstring). Reads only."""
    groups = {tuple(r.identities.items()) for r in rows} - attributions.keys()
    wanted = {(kind, value) for group in groups for kind, value in group if value}
    mappings = preview_mappings(provider, wanted, directory)
    for group in groups:
        identities = dict(group)
        employee, project = owner_of(identities, spec.identity_order, mappings)
        attributions[group] = Attribution(
            identities=identities,
            employee=employee,
            project=project,
            via=_via(identities, spec.identity_order, mappings) if employee else "",
            reason="" if employee else unmapped_reason(identities),
        )
    prices = PriceBook({r.model_name for r in rows})
    for row in rows:
        attributions[tuple(row.identities.items())].add(row, cost_of(row, prices))


def attribution_table(attributions: list[Attribution]) -> list[str]:
    """The preview as lines of a table (attributed first, then the unassigned), and a total."""
    ordered = sorted(attributions, key=lambda a: (a.employee is None, a.identifier))
    header = ("Identifier", "Buckets", "Days", "Estimated", "Would be posted to")
    cells = [(a.identifier, str(a.buckets), a.days, _estimate(a), a.attributed_to) for a in ordered]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header) - 1)]
    lines = [
        "  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in [header, *cells]
    ]
    held = [a for a in ordered if a.employee is None]
    lines.append(
        f"{sum(a.buckets for a in ordered) - sum(a.buckets for a in held)} bucket(s) would be "
        f"posted to {len({a.employee.pk for a in ordered if a.employee})} employee(s); "
        f"{sum(a.buckets for a in held)} would stay unassigned "
        f"({format_usd(sum(a.estimated_micros for a in held))})."
    )
    return lines


def _estimate(attribution: Attribution) -> str:
    unpriced = f" + {attribution.unpriced} unpriced" if attribution.unpriced else ""
    return format_usd(attribution.estimated_micros) + unpriced
