"""Deterministic demo data, built without a database: an organisation, this year's budgets,
prices and a year of usage, from a seeded random.Random, as plain rows (budgets.demo.write
stores them)."""

import random
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate
from zoneinfo import ZoneInfo

from django.conf import settings

from budgets.calculations import prorate_micros, usage_cost_micros
from common.fiscal import Period

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
        rng.random()  # the draw that once made the pilot flag: the demo stays as it was
        people.append(
            DemoPerson(
                email,
                rng.choice(FIRST),
                rng.choice(LAST),
                level,
                team,
                manager,
                hire_date,
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
