"""Deterministic demo data: an organisation, this year's budgets, prices and a year of usage.

`demo_build` is pure (a seeded random.Random, no database) and returns plain rows; `demo_write`
inserts them in bulk (COPY on PostgreSQL, executemany elsewhere) with every budget's totals
computed once in Python, so 10,000 employees and 1,000,000 events take well under two minutes.
"""

import random
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connection, transaction

from budgets.calculations import prorate_micros, usage_cost_micros
from budgets.models import Budget, DailySpend, EntryKind, LedgerEntry, TokenPrice, UsageEvent
from budgets.services import level_allocation_key
from budgets.usage import EVENT_COLUMNS
from common.fiscal import Period
from people.models import Department, Employee, Level, Project, Team
from people.roles import ENGINEERS, FINANCE, HR, MANAGERS

DEMO_PASSWORD = "demo"  # nosec B105  # noqa: S105 - the documented demo sign-in, made only in demo settings
DEMO_SOURCE = "seed"
DEMO_EMPLOYEE_SIGN_INS = {"manager@example.com", "engineer@example.com"}
MICROS = 1_000_000

DEPARTMENTS = {
    "Product Engineering": ["Web", "Mobile", "Payments", "Growth"],
    "Platform": ["Infrastructure", "Developer Experience", "Security"],
    "Data": ["Analytics", "Machine Learning", "Data Platform"],
}
POOL_TEAMS = {"Machine Learning", "Developer Experience", "Payments"}
LEVEL_SHARES = {"junior": 0.25, "mid": 0.40, "senior": 0.25, "staff": 0.10}
# (model, USD per 1M input, output, cached input, share of calls); a price cut halfway through
PRICES = [
    ("claude-sonnet-4", "3", "15", "0.30", 0.40),
    ("claude-opus-4", "15", "75", "1.50", 0.10),
    ("gpt-4.1", "2", "8", "0.50", 0.25),
    ("gpt-4.1-mini", "0.40", "1.60", "0.10", 0.15),
    ("gemini-2.5-pro", "1.25", "10", "0.31", 0.10),
]
PRICE_CUT_PERCENT = 80  # prices fall 20 % at mid-year: the same dollars buy more tokens
CATEGORIES = [
    ("code_generation", 34),
    ("code_review", 14),
    ("testing", 14),
    ("debugging", 16),
    ("documentation", 6),
    ("design", 5),
    ("learning", 4),
    ("operations", 5),
    ("other", 2),
]
CRUNCH_MONTHS = {3: 1.6, 6: 1.3, 9: 1.7, 11: 1.4}  # months into the fiscal year (1-based)
PROJECTS = [
    ("checkout-v2", "Checkout rewrite", 400_000),
    ("agent-review", "Agent code review rollout", 250_000),
    ("ml-platform", "Feature store and training platform", 600_000),
    ("mobile-offline", "Offline-first mobile app", 180_000),
    ("sec-audit", "Automated security audit", 150_000),
    ("dx-ci", "CI time halved", 120_000),
]


@dataclass
class DemoPerson:
    email: str
    first_name: str
    last_name: str
    level: str
    team: str | None
    manager: str | None  # email
    hire_date: date
    pilot_cohort: bool
    external_id: str


@dataclass
class DemoEvent:
    event_id: str
    employee: str  # email
    project: str | None  # code
    model_name: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_micros: int
    occurred_at: datetime
    category: str
    budget: tuple[str, str]  # (owner kind, owner key)
    price_version: int = 0  # index into the model's price versions


@dataclass
class DemoData:
    fiscal_year: int
    period: Period
    people: list[DemoPerson]
    # code, name, starts, ends, member emails, lead email
    projects: list[tuple[str, str, date, date | None, list[str], str]]
    allocations: dict[tuple[str, str], int]  # (owner kind, key) -> micros
    events: list[DemoEvent] = field(default_factory=list)


FIRST = ["Ada", "Alan", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances"]
FIRST += ["Edsger", "Radia", "John", "Katherine"]
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Thompson", "Hamilton"]
LAST += ["Ritchie", "Allen", "Dijkstra"]


def _weighted(rng: random.Random, cumulative: Sequence[float], items: Sequence):
    return items[bisect_left(cumulative, rng.random() * cumulative[-1])]


def _prices_by_model(period: Period) -> dict[str, list[tuple[datetime, int, int, int]]]:
    first = datetime.combine(period.start - timedelta(days=365), time(), tzinfo=UTC)
    cut = datetime.combine(period.start + timedelta(days=period.days // 2), time(), tzinfo=UTC)
    table = {}
    for name, pin, pout, pcached, _ in PRICES:
        base = [int(Decimal(p) * MICROS) for p in (pin, pout, pcached)]
        cheaper = [value * PRICE_CUT_PERCENT // 100 for value in base]
        table[name] = [(first, *base), (cut, *cheaper)]
    return table


def demo_build(
    *, seed: int, employees: int, events_per_employee: int, today: date, period: Period
) -> DemoData:
    """All demo rows, from the seed alone: the same arguments always give the same data."""
    rng = random.Random(seed)  # nosec B311  # noqa: S311 - demo data, reproducible on purpose
    teams = [(dept, team) for dept, names in DEPARTMENTS.items() for team in names]
    level_names = list(LEVEL_SHARES)
    level_cumulative = list(accumulate(LEVEL_SHARES.values()))

    people: list[DemoPerson] = []
    # The demo's named people: manager@ leads the Web team, engineer@ (mid) reports to them.
    people.append(
        DemoPerson(
            "manager@example.com",
            "Maya",
            "Manager",
            "senior",
            "Web",
            None,
            period.start - timedelta(days=900),
            True,
            "DEMO-MANAGER",
        )
    )
    people.append(
        DemoPerson(
            "engineer@example.com",
            "Eli",
            "Engineer",
            "mid",
            "Web",
            "manager@example.com",
            period.start - timedelta(days=400),
            True,
            "DEMO-ENGINEER",
        )
    )
    leads: dict[str, str] = {"Web": "manager@example.com"}
    for number in range(1, employees + 1):
        dept, team = teams[(number - 1) % len(teams)]
        level = _weighted(rng, level_cumulative, level_names)
        if team not in leads:
            level = "staff" if rng.random() < 0.5 else "senior"
        hired_days_ago = int(rng.triangular(0, 6 * 365, 365))
        hire_date = today - timedelta(days=hired_days_ago)
        email = f"employee{number:05d}@example.com"
        manager = leads.get(team)
        if manager is None:
            leads[team] = email
        people.append(
            DemoPerson(
                email,
                rng.choice(FIRST),
                rng.choice(LAST),
                level,
                team,
                manager,
                hire_date,
                rng.random() < 0.2,
                f"EMP{number:05d}",
            )
        )

    by_team: dict[str, list[str]] = {}
    for person in people:
        by_team.setdefault(person.team, []).append(person.email)
    engineers = [p.email for p in people]
    projects = []
    for index, (code, name, _) in enumerate(PROJECTS):
        starts = period.start + timedelta(days=rng.randrange(0, 60))
        ends = None if index % 3 == 0 else period.end - timedelta(days=rng.randrange(1, 90))
        size = min(len(engineers), rng.randrange(5, 25))
        members = sorted(rng.sample(engineers, size))
        if code == "checkout-v2" and "engineer@example.com" not in members:
            members.append("engineer@example.com")
        projects.append((code, name, starts, ends, members, members[0]))

    level_budget = {"junior": 50_000, "mid": 100_000, "senior": 150_000, "staff": 250_000}
    allocations: dict[tuple[str, str], int] = {}
    for person in people:
        annual = level_budget[person.level] * MICROS
        amount = prorate_micros(annual, start=person.hire_date, period=period)
        if amount > 0:
            allocations[("employee", person.email)] = amount
    for _, team in teams:
        if team in POOL_TEAMS:
            allocations[("team", team)] = 200_000 * MICROS
    project_dollars = {code: dollars for code, _, dollars in PROJECTS}
    for code, _, _, _, _, _ in projects:
        allocations[("project", code)] = project_dollars[code] * MICROS

    data = DemoData(period.start.year, period, people, projects, allocations)
    data.events = _build_events(rng, data, events_per_employee, today, period)
    return data


def _day_weights(period: Period, today: date) -> tuple[list[date], list[float]]:
    days, weights = [], []
    day = period.start
    while day <= min(today, period.end - timedelta(days=1)):
        month_in_year = (day.month - period.start.month) % 12 + 1
        weight = (1.0 if day.weekday() < 5 else 0.15) * CRUNCH_MONTHS.get(month_in_year, 1.0)
        weight *= (1.12, 1.2, 1.15, 1.05, 0.85, 1.0, 1.0)[day.weekday()]
        days.append(day)
        weights.append(weight)
        day += timedelta(days=1)
    return days, list(accumulate(weights))


def _build_events(rng, data: DemoData, per_employee: int, today: date, period: Period):
    if per_employee <= 0:
        return []
    zone = ZoneInfo(settings.TIME_ZONE)
    prices = _prices_by_model(period)
    model_names = [p[0] for p in PRICES]
    model_cumulative = list(accumulate(p[4] for p in PRICES))
    categories = [c for c, _ in CATEGORIES]
    category_cumulative = list(accumulate(w for _, w in CATEGORIES))
    days, day_cumulative = _day_weights(period, today)
    memberships: dict[str, list[tuple[str, date, date]]] = {}
    for code, _, starts, ends, members, _ in data.projects:
        for member in members:
            memberships.setdefault(member, []).append((code, starts, ends or period.end))

    raw = []
    sequence = 0
    for person in data.people:
        allocated = data.allocations.get(("employee", person.email), 0)
        appetite_percent = rng.randrange(25, 116)  # share of the year-to-date budget they use
        target = allocated * appetite_percent * len(days) // (100 * period.days)
        weights = [int(rng.lognormvariate(0, 0.6) * 1000) + 1 for _ in range(per_employee)]
        total_weight = sum(weights)
        own_projects = memberships.get(person.email, [])
        for weight in weights:
            sequence += 1
            day = _weighted(rng, day_cumulative, days)
            if day < person.hire_date:
                day = person.hire_date if person.hire_date <= days[-1] else days[-1]
            hour = min(23, max(0, int(rng.gauss(14, 3))))
            local = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)))
            occurred_at = local.replace(tzinfo=zone).astimezone(UTC)
            model_name = _weighted(rng, model_cumulative, model_names)
            version = max(
                index for index, p in enumerate(prices[model_name]) if p[0] <= occurred_at
            )
            __, pin, pout, pcached = prices[model_name][version]
            share = target * weight // total_weight
            # Calls mix 4 input : 1 output : 2 cached tokens; solve the mix for this share of spend.
            per_four_million = 4 * pin + pout + 2 * pcached
            # At most 900M input tokens (1.35B with the mix) in one event: the API's plausible
            # maximum is 10^9 per field.
            input_tokens = min(900_000_000, max(1, share * 4 * MICROS // per_four_million))
            output_tokens, cached = input_tokens // 4, input_tokens // 2
            cost = usage_cost_micros(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cached_input_tokens=cached,
                input_per_million_micros=pin,
                output_per_million_micros=pout,
                cached_input_per_million_micros=pcached,
            )
            project = None
            if own_projects and rng.random() < 0.3:
                code, starts, ends = rng.choice(own_projects)
                project = code if starts <= day < ends else None
            category = _weighted(rng, category_cumulative, categories)
            raw.append(
                (
                    occurred_at,
                    sequence,
                    person,
                    project,
                    model_name,
                    input_tokens,
                    output_tokens,
                    cached,
                    cost,
                    category,
                    version,
                )
            )
    raw.sort(key=lambda row: (row[0], row[1]))
    return _draw_down(raw, data)


def _draw_down(raw, data: DemoData) -> list[DemoEvent]:
    """Assign each event its paying budget in time order, as budgets.services would."""
    remaining = dict(data.allocations)
    events = []
    for row in raw:
        occurred_at, sequence, person, project, model, tin, tout, tcached, cost, category = row[:10]
        order = []
        if project:
            order.append(("project", project))
        order.append(("employee", person.email))
        if person.team in POOL_TEAMS:
            order.append(("team", person.team))
        payer = next((key for key in order if remaining.get(key, 0) >= cost), order[0])
        remaining[payer] = remaining.get(payer, 0) - cost
        events.append(
            DemoEvent(
                f"seed-{sequence:08d}",
                person.email,
                project,
                model,
                tin,
                tout,
                tcached,
                cost,
                occurred_at,
                category,
                payer,
                row[10],
            )
        )
    return events


# -- writing -------------------------------------------------------------------------------------


def _insert(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Bulk insert: COPY on PostgreSQL, executemany in batches elsewhere."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            names = ", ".join(columns)
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('%s' for _ in columns)})"  # nosec B608  # noqa: S608,E501
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) == 10_000:
                cursor.executemany(sql, batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)


def _next_id(model) -> int:
    last = model.objects.order_by("-pk").values_list("pk", flat=True).first()
    return (last or 0) + 1


def _reset_sequences(*models) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # nosec B608  # noqa: S608
                f"COALESCE((SELECT MAX(id) FROM {table}), 1))"
            )


@transaction.atomic
def demo_write(data: DemoData, *, with_demo_sign_ins: bool) -> dict[str, int]:
    User = get_user_model()
    groups = {g.name: g for g in Group.objects.filter(name__in=[HR, FINANCE, MANAGERS, ENGINEERS])}
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
                pilot_cohort=p.pilot_cohort,
                external_id=p.external_id,
            )
            for p in data.people
        ],
        batch_size=2000,
    )
    employee_ids = {p.email: e.pk for p, e in zip(data.people, employees, strict=True)}
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
        projects[code] = project

    price_ids = _write_prices(data)

    # Budgets with their totals computed once.
    fy = data.fiscal_year
    owner_ids = {
        "employee": employee_ids,
        "team": {name: team.pk for name, team in teams.items()},
        "project": {code: project.pk for code, project in projects.items()},
    }
    spent: dict[tuple[str, str], int] = {}
    for event in data.events:
        spent[event.budget] = spent.get(event.budget, 0) + event.cost_micros
    for key in spent:
        data.allocations.setdefault(key, 0)
    budget_rows = []
    for (kind, key), allocated in data.allocations.items():
        budget_rows.append(
            Budget(
                fiscal_year=fy,
                allocated_micros=allocated,
                spent_micros=spent.get((kind, key), 0),
                enforcement="hard" if kind == "project" else "soft",
                **{f"{kind}_id": owner_ids[kind][key]},
            )
        )
    budgets = Budget.objects.bulk_create(budget_rows, batch_size=2000)
    budget_ids = {key: budget.pk for key, budget in zip(data.allocations, budgets, strict=True)}
    if any(b.pk is None for b in budgets):  # pragma: no cover - backends without RETURNING
        raise RuntimeError("bulk_create did not return ids")

    start = datetime.combine(data.period.start, time(), tzinfo=ZoneInfo(settings.TIME_ZONE))
    entry_id = _next_id(LedgerEntry)
    allocation_rows = []
    for (kind, key), amount in data.allocations.items():
        if amount <= 0:
            continue
        idempotency = (
            level_allocation_key(employee=Employee(pk=employee_ids[key]), fiscal_year=fy)
            if kind == "employee"
            else f"demo-allocation:{kind}:{key}:fy:{fy}"
        )
        allocation_rows.append(
            (
                entry_id,
                budget_ids[(kind, key)],
                EntryKind.ALLOCATION,
                amount,
                start,
                f"FY{fy} demo allocation",
                idempotency,
            )
        )
        entry_id += 1
    _insert(
        LedgerEntry._meta.db_table,
        ["id", "budget_id", "kind", "amount_micros", "created_at", "memo", "idempotency_key"],
        allocation_rows,
    )

    first_usage_id = entry_id
    _insert(
        LedgerEntry._meta.db_table,
        ["id", "budget_id", "kind", "amount_micros", "created_at", "memo"],
        (
            (
                first_usage_id + index,
                budget_ids[e.budget],
                EntryKind.USAGE,
                e.cost_micros,
                e.occurred_at,
                f"{e.model_name} {DEMO_SOURCE}:{e.event_id}",
            )
            for index, e in enumerate(data.events)
        ),
    )
    received = datetime.now(tz=UTC)
    project_ids = owner_ids["project"]
    _insert(
        UsageEvent._meta.db_table,
        EVENT_COLUMNS,
        (
            (
                DEMO_SOURCE,
                e.event_id,
                employee_ids[e.employee],
                project_ids[e.project] if e.project else None,
                e.model_name,
                e.input_tokens,
                e.output_tokens,
                e.cached_input_tokens,
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
            for index, e in enumerate(data.events)
        ),
    )
    _reset_sequences(LedgerEntry, UsageEvent)
    _write_daily_spend(data.events, budget_ids)

    # Roles: everyone is an engineer; anyone with reports is a manager.
    engineers = groups[ENGINEERS]
    engineers.user_set.add(*user_ids.values())
    manager_emails = {p.manager for p in data.people if p.manager}
    groups[MANAGERS].user_set.add(*(user_ids[m] for m in manager_emails))

    if with_demo_sign_ins:
        _demo_sign_ins(groups)
    return {
        "employees": len(employees),
        "budgets": len(budgets),
        "events": len(data.events),
        "ledger_entries": len(allocation_rows) + len(data.events),
    }


def _write_daily_spend(events: list[DemoEvent], budget_ids: dict) -> None:
    zone = ZoneInfo(settings.TIME_ZONE)
    daily: dict[tuple[int, date], list[int]] = {}
    for event in events:
        key = (budget_ids[event.budget], event.occurred_at.astimezone(zone).date())
        totals = daily.setdefault(key, [0, 0])
        totals[0] += event.cost_micros
        totals[1] += 1
    _insert(
        DailySpend._meta.db_table,
        ["budget_id", "day", "spent_micros", "events"],
        (
            (budget_id, day, spent, count)
            for (budget_id, day), (spent, count) in sorted(daily.items())
        ),
    )


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
