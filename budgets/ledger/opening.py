"""Opening an owner's budget for a year: one per owner per year (by constraint), with the
owner's rules of the year before.

Whoever opens a year first (HR's allocation, an approved increase, usage, the rollover) must not
turn a hard limit soft, since the rollover keeps the budget it finds: a new budget takes the
owner's enforcement, overdraft and alert thresholds of the year before; with none, the defaults.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from budgets.ledger.keys import owner_key
from budgets.models import Budget, Enforcement, OwnerKind
from common.errors import AllotError
from people.models import Employee, Project, Team


@dataclass(frozen=True, slots=True)
class Owner:
    kind: str  # an OwnerKind
    owner_id: int

    @property
    def key(self) -> str:
        return owner_key(self.kind, self.owner_id)


def rules_of_year_before(*, fiscal_year: int, owners: Iterable[Owner]) -> dict[str, dict]:
    """Each owner's budget rules (Budget.RULES) of the year before `fiscal_year`, by owner key;
    owners without a budget that year are left out."""
    by_kind: dict[str, set[int]] = {}
    for owner in owners:
        by_kind.setdefault(owner.kind, set()).add(owner.owner_id)
    if not by_kind:
        return {}
    condition = Q()
    for kind, ids in by_kind.items():
        condition |= Q(**{f"{kind}_id__in": ids})
    found = Budget.objects.filter(condition, fiscal_year=fiscal_year - 1).values(
        "employee_id", "team_id", "project_id", *Budget.RULES
    )
    return {_row_key(row): {name: row[name] for name in Budget.RULES} for row in found}


def _row_key(row: dict) -> str:
    for kind in OwnerKind.values:
        if row[f"{kind}_id"]:
            return owner_key(kind, row[f"{kind}_id"])
    raise ValueError("a budget row without an owner")


def budget_create(
    *,
    fiscal_year: int,
    employee: Employee | None = None,
    team: Team | None = None,
    project: Project | None = None,
    enforcement: str | None = None,
    acting_user: AbstractBaseUser | None = None,
) -> tuple[Budget, bool]:
    """The owner's budget for a year, created if missing, and whether this call created it.
    `enforcement`, when given, wins over the year before's."""
    owners = {OwnerKind.EMPLOYEE: employee, OwnerKind.TEAM: team, OwnerKind.PROJECT: project}
    given = [(kind, owner) for kind, owner in owners.items() if owner is not None]
    if len(given) != 1:
        raise AllotError("A budget has exactly one owner: an employee, a team or a project.")
    kind, owner = given[0]
    lookup = {kind.value: owner}
    existing = Budget.objects.filter(fiscal_year=fiscal_year, **lookup).first()
    if existing is not None:
        return existing, False
    owner_ref = Owner(kind.value, owner.pk)
    rules = rules_of_year_before(fiscal_year=fiscal_year, owners=[owner_ref]).get(owner_ref.key, {})
    if enforcement is not None:
        rules["enforcement"] = enforcement
    try:
        with transaction.atomic():
            return Budget.objects.get_or_create(fiscal_year=fiscal_year, **lookup, defaults=rules)
    except IntegrityError:
        return Budget.objects.get(fiscal_year=fiscal_year, **lookup), False


def budgets_open(
    *, fiscal_year: int, owners: list[Owner], rules: dict[str, dict] | None = None
) -> None:
    """Create the year's budgets these owners lack, in one statement; an owner that has one
    (or gets one concurrently) is left alone. `rules` (by owner key) when the caller has read
    the year before already; otherwise they are read here."""
    if not owners:
        return
    if rules is None:
        rules = rules_of_year_before(fiscal_year=fiscal_year, owners=owners)
    if connection.vendor != "postgresql":
        Budget.objects.bulk_create(
            [
                Budget(
                    fiscal_year=fiscal_year,
                    **{f"{owner.kind}_id": owner.owner_id},
                    **{k: v for k, v in rules.get(owner.key, {}).items() if v is not None},
                )
                for owner in owners
            ],
            ignore_conflicts=True,
        )
        return
    columns: list[list] = [[] for _ in range(7)]
    now = timezone.now()
    for owner in owners:
        owner_rules = rules.get(owner.key, {})
        thresholds = owner_rules.get("alert_thresholds")
        for index, value in enumerate(
            (
                owner.owner_id if owner.kind == OwnerKind.EMPLOYEE else None,
                owner.owner_id if owner.kind == OwnerKind.TEAM else None,
                owner.owner_id if owner.kind == OwnerKind.PROJECT else None,
                owner_rules.get("enforcement") or Enforcement.SOFT.value,
                owner_rules.get("overdraft_percent") or Decimal(0),
                None if thresholds is None else json.dumps(thresholds),
                now,
            )
        ):
            columns[index].append(value)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Budget._meta.db_table} (employee_id, team_id, project_id, "  # nosec B608  # noqa: S608
            "enforcement, overdraft_percent, alert_thresholds, created_at, fiscal_year, "
            "allocated_micros, spent_micros, reserved_micros, carried_over_micros) "
            "SELECT e, t, p, en, od, at::jsonb, ca, %s, 0, 0, 0, 0 FROM unnest("
            "%s::bigint[], %s::bigint[], %s::bigint[], %s::varchar[], %s::numeric[], "
            "%s::text[], %s::timestamptz[]) AS v(e, t, p, en, od, at, ca) "
            "ON CONFLICT DO NOTHING",
            [fiscal_year, *columns],
        )
