"""Storing the demo data: the organisation, then budgets, entries, events and the daily rollup
in bulk (COPY on PostgreSQL, executemany elsewhere) through the ledger kernel, with each
budget's totals computed once in Python, so 10,000 employees and 1,000,000 events take well
under two minutes."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connection, transaction

from budgets.demo.build import (
    DEMO_EMPLOYEE_SIGN_INS,
    DEMO_PASSWORD,
    DEMO_SOURCE,
    DEPARTMENTS,
    POOL_TEAMS,
    DemoData,
    DemoEvent,
    _prices_by_model,
)
from budgets.ledger import (
    DaySpend,
    EntryRow,
    Owner,
    TotalsMove,
    budgets_open,
    daily_spend_add,
    entries_load,
    totals_add,
)
from budgets.ledger.keys import demo_allocation_key, level_allocation_key
from budgets.models import (
    Budget,
    Enforcement,
    EntryKind,
    LedgerEntry,
    OwnerKind,
    TokenPrice,
    UsageEvent,
)
from budgets.usage.write import EVENT_COLUMNS
from common.rawsql import executemany_insert, sequences_reset
from people.models import Department, Employee, Level, Project, Team
from people.roles import ENGINEERS, FINANCE, HR, MANAGERS


@dataclass
class OrgIds:
    """The stored organisation: database ids by the demo's own keys."""

    users: dict[str, int]  # email -> user id
    employees: dict[str, int]  # email -> employee id
    teams: dict[str, int]  # name -> team id
    projects: dict[str, int]  # code -> project id

    def owner_id(self, kind: str, key: str) -> int:
        return {"employee": self.employees, "team": self.teams, "project": self.projects}[kind][key]


@transaction.atomic
def demo_write(data: DemoData, *, with_demo_sign_ins: bool) -> dict[str, int]:
    groups = {g.name: g for g in Group.objects.filter(name__in=[HR, FINANCE, MANAGERS, ENGINEERS])}
    ids = _write_organisation(data, with_demo_sign_ins=with_demo_sign_ins)
    price_ids = _write_prices(data)
    budget_ids = _write_budgets(data, ids)
    first_entry_id = _next_id(LedgerEntry)
    allocations = entries_load(_allocation_rows(data, ids, budget_ids), first_id=first_entry_id)
    first_usage_id = first_entry_id + allocations
    entries_load(
        (
            EntryRow(
                budget_ids[e.budget],
                EntryKind.USAGE,
                e.cost_micros,
                f"{e.model_name} {DEMO_SOURCE}:{e.event_id}",
                e.occurred_at,
            )
            for e in data.events
        ),
        first_id=first_usage_id,
    )
    _insert(
        UsageEvent._meta.db_table,
        EVENT_COLUMNS,
        _event_rows(data, ids, price_ids, budget_ids, first_usage_id),
    )
    sequences_reset(LedgerEntry, UsageEvent)
    totals_add(_totals(data, budget_ids))
    daily_spend_add(_daily_spend(data.events, budget_ids))

    # Roles: everyone is an engineer; anyone with reports is a manager.
    groups[ENGINEERS].user_set.add(*ids.users.values())
    manager_emails = {p.manager for p in data.people if p.manager}
    groups[MANAGERS].user_set.add(*(ids.users[m] for m in manager_emails))
    if with_demo_sign_ins:
        _demo_sign_ins(groups)
    return {
        "employees": len(ids.employees),
        "budgets": len(budget_ids),
        "events": len(data.events),
        "ledger_entries": allocations + len(data.events),
    }


def _write_organisation(data: DemoData, *, with_demo_sign_ins: bool) -> OrgIds:
    User = get_user_model()
    levels = {level.name: level for level in Level.objects.all()}
    departments = {name: Department.objects.create(name=name) for name in DEPARTMENTS}
    teams = {
        team: Team.objects.create(
            name=team,
            department=departments[dept],
            has_pool=team in POOL_TEAMS,
            pool_overflow=team in POOL_TEAMS,
        )
        for dept, names in DEPARTMENTS.items()
        for team in names
    }
    demo_hash = make_password(DEMO_PASSWORD) if with_demo_sign_ins else None
    users = User.objects.bulk_create(
        [
            User(
                username=p.email,
                email=p.email,
                first_name=p.first_name,
                last_name=p.last_name,
                password=(demo_hash if p.email in DEMO_EMPLOYEE_SIGN_INS and demo_hash else "!"),
            )
            for p in data.people
        ],
        batch_size=2000,
    )
    user_ids = {p.email: u.pk for p, u in zip(data.people, users, strict=True)}
    if connection.vendor != "postgresql" and any(u.pk is None for u in users):
        user_ids = dict(User.objects.filter(email__in=user_ids).values_list("email", "pk"))
    employees = Employee.objects.bulk_create(
        [
            Employee(
                user_id=user_ids[p.email],
                level=levels[p.level],
                team=teams.get(p.team),
                hire_date=p.hire_date,
                external_id=p.external_id,
            )
            for p in data.people
        ],
        batch_size=2000,
    )
    employee_ids = {p.email: e.pk for p, e in zip(data.people, employees, strict=True)}
    _write_management(data, employee_ids, teams, departments)
    return OrgIds(
        users=user_ids,
        employees=employee_ids,
        teams={name: team.pk for name, team in teams.items()},
        projects=_write_projects(data, employee_ids),
    )


def _write_management(
    data: DemoData,
    employee_ids: dict[str, int],
    teams: dict[str, Team],
    departments: dict[str, Department],
) -> None:
    managed = [
        Employee(pk=employee_ids[p.email], manager_id=employee_ids[p.manager])
        for p in data.people
        if p.manager
    ]
    Employee.objects.bulk_update(managed, ["manager"], batch_size=2000)
    for team_name, team in teams.items():
        lead_email = next(
            (p.email for p in data.people if p.team == team_name and not p.manager), None
        )
        if lead_email:
            team.lead_id = employee_ids[lead_email]
            team.save(update_fields=["lead"])
    for dept_name, department in departments.items():
        first_team = DEPARTMENTS[dept_name][0]
        department.head_id = teams[first_team].lead_id
        department.save(update_fields=["head"])


def _write_projects(data: DemoData, employee_ids: dict[str, int]) -> dict[str, int]:
    projects = {}
    for code, name, starts, ends, members, lead in data.projects:
        project = Project.objects.create(
            code=code,
            name=name,
            starts_on=starts,
            ends_on=ends,
            lead_id=employee_ids[lead],
            justification=f"Demo project: {name.lower()}.",
        )
        project.members.set([employee_ids[m] for m in members])
        projects[code] = project.pk
    return projects


def _write_budgets(data: DemoData, ids: OrgIds) -> dict[tuple[str, str], int]:
    """The year's budgets, opened empty (projects hard, the rest soft); their totals move with
    the entries. Returns {(owner kind, demo key): budget id}."""
    for event in data.events:
        data.allocations.setdefault(event.budget, 0)
    owners = {key: Owner(key[0], ids.owner_id(*key)) for key in data.allocations}
    budgets_open(
        fiscal_year=data.fiscal_year,
        owners=list(owners.values()),
        rules={
            owner.key: {
                "enforcement": Enforcement.HARD
                if owner.kind == OwnerKind.PROJECT
                else Enforcement.SOFT
            }
            for owner in owners.values()
        },
    )
    by_owner = {
        (kind, owner_id): pk
        for kind in OwnerKind.values
        for pk, owner_id in Budget.objects.filter(
            fiscal_year=data.fiscal_year, **{f"{kind}__isnull": False}
        ).values_list("pk", f"{kind}_id")
    }
    return {key: by_owner[owner.kind, owner.owner_id] for key, owner in owners.items()}


def _allocation_rows(data: DemoData, ids: OrgIds, budget_ids: dict) -> Iterable[EntryRow]:
    fy = data.fiscal_year
    start = datetime.combine(data.period.start, time(), tzinfo=ZoneInfo(settings.TIME_ZONE))
    for (kind, key), amount in data.allocations.items():
        if amount <= 0:
            continue
        idempotency = (
            level_allocation_key(employee_id=ids.employees[key], fiscal_year=fy)
            if kind == OwnerKind.EMPLOYEE
            else demo_allocation_key(owner_kind=kind, owner_name=key, fiscal_year=fy)
        )
        yield EntryRow(
            budget_ids[(kind, key)],
            EntryKind.ALLOCATION,
            amount,
            f"FY{fy} demo allocation",
            start,
            idempotency,
        )


def _event_rows(
    data: DemoData, ids: OrgIds, price_ids: dict, budget_ids: dict, first_usage_id: int
) -> Iterable[tuple]:
    received = datetime.now(tz=UTC)
    for index, e in enumerate(data.events):
        yield (
            DEMO_SOURCE,
            e.event_id,
            ids.employees[e.employee],
            ids.projects[e.project] if e.project else None,
            e.model_name,
            e.input_tokens,
            e.output_tokens,
            e.cached_input_tokens,
            0,  # no cache writes in demo data
            0,
            e.cost_micros,
            e.occurred_at,
            received,
            e.category,
            "{}",
            "",
            None,  # reservation
            price_ids[(e.model_name, e.price_version)],
            budget_ids[e.budget],
            first_usage_id + index,
        )


def _totals(data: DemoData, budget_ids: dict) -> dict[int, TotalsMove]:
    """Each budget's totals: what its entries add up to."""
    moves = {budget_id: TotalsMove() for budget_id in budget_ids.values()}
    for key, amount in data.allocations.items():
        if amount > 0:
            moves[budget_ids[key]].allocated_micros += amount
    for event in data.events:
        moves[budget_ids[event.budget]].spent_micros += event.cost_micros
    return moves


def _daily_spend(events: list[DemoEvent], budget_ids: dict) -> dict[tuple[int, date], DaySpend]:
    zone = ZoneInfo(settings.TIME_ZONE)
    daily: dict[tuple[int, date], DaySpend] = {}
    for event in events:
        key = (budget_ids[event.budget], event.occurred_at.astimezone(zone).date())
        day = daily.setdefault(key, DaySpend())
        day.spent_micros += event.cost_micros
        day.events += 1
    return daily


def _insert(table: str, columns, rows: Iterable) -> None:
    """Bulk insert of rows that move no money: COPY on PostgreSQL, executemany elsewhere."""
    if connection.vendor != "postgresql":
        executemany_insert(table, columns, rows)
        return
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _next_id(model) -> int:
    last = model.objects.order_by("-pk").values_list("pk", flat=True).first()
    return (last or 0) + 1


def _write_prices(data: DemoData) -> dict[tuple[str, int], int]:
    """The price table; returns {(model, version index): price id}."""
    rows = []
    for model_name, versions in _prices_by_model(data.period).items():
        for effective_from, pin, pout, pcached in versions:
            rows.append(
                TokenPrice(
                    model_name=model_name,
                    effective_from=effective_from,
                    input_per_million_micros=pin,
                    output_per_million_micros=pout,
                    cached_input_per_million_micros=pcached,
                )
            )
    TokenPrice.objects.bulk_create(rows, ignore_conflicts=True)
    ids = {}
    for model_name, versions in _prices_by_model(data.period).items():
        for index, (effective_from, *_) in enumerate(versions):
            ids[(model_name, index)] = TokenPrice.objects.get(
                model_name=model_name, effective_from=effective_from
            ).pk
    return ids


def _demo_sign_ins(groups: dict[str, Group]) -> None:
    """admin (superuser), hr@ and finance@ (staff, in their groups); manager@ and engineer@ were
    made above as employees with the demo password."""
    User = get_user_model()
    User.objects.create_superuser("admin", "admin@example.com", DEMO_PASSWORD)
    for email, group in (("hr@example.com", HR), ("finance@example.com", FINANCE)):
        user = User.objects.create_user(
            email, email, DEMO_PASSWORD, is_staff=True, first_name=group, last_name="Demo"
        )
        user.groups.add(groups[group])
