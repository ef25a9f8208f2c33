"""The ledger invariant under every writer of money, in any order.

After any sequence of usage (the API and the service), holds (authorize with reserve, settled by
the usage that names them, or expired), approved increases and top-ups (small ones by the
auto-approval rule), permanent increases, project allocations (requested and approved),
promotions (a level change), adjustments, transfers (by the service and as requests through the
engine), a price correction, a new price, the year's rollover (with the pool's and the project's
standing amounts, and the new allocations indexed to the price change), the expiry of
carried-over money (and the holds a closed year forfeits), an accepted offer and a leaver
closed (holds released, unused forfeited):

- every budget's stored totals equal its ledger by column (SPENT_KINDS move `spent`, every other
  kind `allocated`) and its `reserved` equals its open holds;
- no writer that enforces limits takes a hard budget further past its limit. Usage (and the
  repricing of usage, and a correction by hand) may: "recording usage never fails for lack of
  budget (it already happened); enforcement happens at authorize time" (PRODUCT.md). So a run of
  only enforcing writers keeps every hard budget within its limit;
- replaying a request that was already applied (same event id, request id or idempotency key, a
  second click, a second run of a daily task) changes nothing.

Only public services, tasks and the HTTP API are driven; nothing of ours is mocked.
"""

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.test import Client
from hypothesis import HealthCheck, event, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from approvals.models import ApprovalRule, RequestKind, StepRole
from approvals.services import request_decide, request_submit
from budgets.authorize import authorize
from budgets.models import (
    SPENT_KINDS,
    Budget,
    DailySpend,
    Enforcement,
    LedgerEntry,
    Reservation,
    ReservationState,
    TokenPrice,
    UsageEvent,
)
from budgets.pricing import NewPrice, price_correct
from budgets.rollover import rollover_confirm, rollover_execute, rollover_preview
from budgets.services import (
    budget_adjust,
    budget_allocate,
    budget_create,
    budget_transfer,
    employee_allocate_from_level,
)
from budgets.tasks import carryover_expire, reservations_release
from budgets.usage import usage_ingest
from common.errors import AllotError
from compensation.models import Offer
from compensation.services import offer_accept
from people.level_changes import employee_level_change
from people.models import BudgetIndexing, Employee, Level, LevelChangePolicy
from people.selectors import company_settings, company_today, current_fiscal_year
from people.services import employee_deactivate
from tests.compensation.test_lifecycle import sent_offer
from tests.factories import (
    EmployeeFactory,
    ProjectFactory,
    TeamFactory,
    api_key,
    finance_user,
    hr_user,
    price,
)

pytestmark = pytest.mark.django_db

DOLLAR = 10**6
SOURCE = "gateway"
START = datetime(2026, 11, 2, 15, tzinfo=UTC)  # in FY2026 (the company's year starts in January)
NEW_YEAR = datetime(2027, 1, 4, 15, tzinfo=UTC)  # FY2026 has ended: the rollover may close it
CARRYOVER_EXPIRES = datetime(2027, 4, 1, 15, tzinfo=UTC)  # three months in, the default rule


@dataclass
class World:
    """What every example starts from (built once, each example rolled back to it)."""

    people: dict[str, Employee]  # "a" (hard, on the project), "b" (hard, 10 % overdraft)
    manager: Employee
    team: object
    project: object
    offer: Offer
    hr: object
    finance: object
    key: str
    client: Client
    clock: time_machine.Traveller


@dataclass
class Run:
    """One example: the world, the holds made so far and the requests that can be replayed."""

    world: World
    step: int = 0
    holds: list[tuple[str, str]] = field(default_factory=list)  # (reservation id, email)
    replays: list[Callable[[], object]] = field(default_factory=list)

    def person(self, who: str) -> Employee | None:
        if who == "hire":  # once the offer is accepted
            return Offer.objects.get(pk=self.world.offer.pk).employee
        return self.world.people[who]

    def budget(self, owner: str) -> Budget | None:
        """The owner's budget of the current fiscal year (opened if missing)."""
        world, year = self.world, current_fiscal_year()
        if owner == "pool":
            return budget_create(fiscal_year=year, team=world.team)[0]
        if owner == "project":
            return budget_create(fiscal_year=year, project=world.project)[0]
        employee = self.person(owner)
        return employee and budget_create(fiscal_year=year, employee=employee)[0]

    def api(self, path: str, body: dict) -> dict | None:
        """POST to the public API with the integration key; None when it refuses (4xx)."""
        response = self.world.client.post(
            f"/api/v1/{path}/",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {self.world.key}",
        )
        return response.json() if response.status_code == 200 else None


@pytest.fixture
def world():
    with time_machine.travel(START, tick=False) as clock:
        # the pool and the project are funded: the rollover allocates their standing amounts
        team = TeamFactory(has_pool=True, pool_overflow=True, pool_annual_micros=30 * DOLLAR)
        director = EmployeeFactory(team=team)
        manager = EmployeeFactory(team=team, manager=director)
        team.lead = manager
        team.save()
        # a's $100 a year is agreed; b's comes from a level of $100 (a promotion: $150)
        band = Level.objects.create(
            name="band 1", rank=101, default_annual_budget_micros=100 * DOLLAR
        )
        Level.objects.create(name="band 2", rank=102, default_annual_budget_micros=150 * DOLLAR)
        mates = {"team": team, "manager": manager}
        people = {
            "a": EmployeeFactory(**mates, annual_budget_micros=100 * DOLLAR),
            "b": EmployeeFactory(**mates, level=band),
        }
        # the rollover's new allocations follow prices half-way (a price change moves them)
        settings_row = company_settings()
        settings_row.budget_indexing = BudgetIndexing.BLEND
        # a level changed mid-year posts this year's prorated difference at once
        settings_row.level_change_policy = LevelChangePolicy.AUTOMATIC
        settings_row.save()
        project = ProjectFactory(annual_micros=40 * DOLLAR)
        project.members.add(people["a"])
        price("m", input_usd="1", output_usd="0")  # a priced call of N cents: N * 10,000 tokens
        # FY2026: the two engineers' level allocations, a soft team pool, a hard project
        budget_create(fiscal_year=2026, employee=people["a"], enforcement=Enforcement.HARD)
        b, _ = budget_create(fiscal_year=2026, employee=people["b"])
        Budget.objects.filter(pk=b.pk).update(  # the budget's rules, as its admin page sets them
            enforcement=Enforcement.HARD_OVERDRAFT, overdraft_percent=10
        )
        for employee in people.values():
            employee_allocate_from_level(employee=employee, fiscal_year=2026, acting_user=None)
        pool, _ = budget_create(fiscal_year=2026, team=team, enforcement=Enforcement.SOFT)
        budget_allocate(budget=pool, amount_micros=50 * DOLLAR, acting_user=None)
        on_project, _ = budget_create(
            fiscal_year=2026, project=project, enforcement=Enforcement.HARD
        )
        budget_allocate(budget=on_project, amount_micros=80 * DOLLAR, acting_user=None)
        # the auto-approval tier: increases up to $20 approved by the rule, $50 a person a year
        ApprovalRule.objects.create(
            kind=RequestKind.INCREASE,
            max_amount_micros=20 * DOLLAR,
            yearly_cap_micros=50 * DOLLAR,
            auto_approve=True,
            steps=["manager"],
        )
        org = {"team": team, "manager": manager, "hr": hr_user(), "finance": finance_user()}
        offer = sent_offer(org, email="hire@example.com")
        yield World(
            people=people,
            manager=manager,
            team=team,
            project=project,
            offer=offer,
            hr=org["hr"],
            finance=org["finance"],
            key=api_key("ingest", "authorize", source=SOURCE),
            client=Client(),
            clock=clock,
        )


# -- the operations ------------------------------------------------------------------------------
# Each applies one writer and returns how to replay the same request, or None (nothing applied).


def dollars(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def send_usage(run: Run, event: dict, via_api: bool) -> Callable[[], object] | None:
    def send():
        if via_api:
            return (run.api("usage", {"events": [event]}) or {}).get("accepted", 0)
        return usage_ingest(events=[event], source=SOURCE).accepted

    return send if send() == 1 else None


def ingest(run: Run, who: str, cents: int, priced: bool, age: timedelta, via_api: bool, project):
    employee = run.person(who)
    if employee is None:
        return None  # not hired (yet)
    event = {
        "id": f"e{run.step}",
        "employee": employee.email,
        "model": "m",
        "input_tokens": cents * 10_000 if priced else 1,
        "output_tokens": 1,
        "occurred_at": (datetime.now(UTC) - age).isoformat(),
    }
    if not priced:
        event["cost_usd"] = dollars(cents)
    if project and who == "a":
        event["project"] = run.world.project.code
    return send_usage(run, event, via_api)


def reserve(run: Run, who: str, cents: int, via_api: bool, project: bool):
    employee = run.person(who)
    if employee is None:
        return None
    on_project = run.world.project if project and who == "a" else None
    request_id = f"r{run.step}"

    def ask() -> str | None:
        if via_api:
            body = {
                "employee": employee.email,
                "estimated_cost_usd": dollars(cents),
                "reserve": True,
                "request_id": request_id,
            }
            if on_project:
                body["project"] = on_project.code
            answer = run.api("authorize", body) or {}
            return (answer.get("reservation") or {}).get("id")
        result = authorize(
            employee=employee,
            estimated_cost_micros=cents * DOLLAR // 100,
            project=on_project,
            reserve=True,
            source=SOURCE,
            request_id=request_id,
        )
        return result.reservation and str(result.reservation.pk)

    reservation_id = ask()
    if reservation_id is None:
        return None
    run.holds.append((reservation_id, employee.email))
    return ask


def settle(run: Run, pick: int, cents: int, via_api: bool):
    if not run.holds:
        return None
    reservation_id, email = run.holds[pick % len(run.holds)]
    event = {
        "id": f"e{run.step}",
        "employee": email,
        "model": "m",
        "input_tokens": 1,
        "output_tokens": 1,
        "cost_usd": dollars(cents),
        "occurred_at": (datetime.now(UTC) - timedelta(seconds=30)).isoformat(),
        "reservation": reservation_id,
    }
    return send_usage(run, event, via_api)


def expire_holds(run: Run):
    run.world.clock.shift(timedelta(seconds=settings.ALLOT_RESERVATION_TTL_SECONDS + 1))
    reservations_release()  # the beat task: holds past their time are released
    return reservations_release


def approve(run: Run, owner: str, dollars_asked: int):
    """An increase (or a team pool top-up) submitted and approved through the engine."""
    if owner == "pool":
        kind, requester, subject = (
            RequestKind.TEAM_TOPUP,
            run.world.manager,
            {"team": run.world.team},
        )
    else:
        employee = run.person(owner)
        if employee is None:
            return None
        kind, requester, subject = RequestKind.INCREASE, employee, {"employee": employee}
    request = request_submit(
        kind=kind,
        requester=requester.user,
        amount_micros=dollars_asked * DOLLAR,
        reason="agents for the migration",
        **subject,
    )
    return _decide_every_step(run, request)


def _decide_every_step(run: Run, request):
    """Each step approved by its approver (or finance for a group step); a step the rule
    approved (the auto tier) is already decided. Returns the last approver's second click."""
    approver = run.world.finance
    for step in request.steps.exclude(role=StepRole.RULE).order_by("index"):
        approver = step.approver or run.world.finance
        request_decide(request=request, user=approver, approve=True)
    return lambda: request_decide(request=request, user=approver, approve=True)  # a 2nd click


def permanent(run: Run, who: str, dollars_a_year: int):
    """A permanent increase from today: the agreed amount up, this year's share prorated."""
    employee = run.person(who)
    if employee is None:
        return None
    request = request_submit(
        kind=RequestKind.PERMANENT_INCREASE,
        requester=employee.user,
        employee=employee,
        amount_micros=dollars_a_year * DOLLAR,
        reason="a new role",
        details={"effective_from": company_today().isoformat()},
    )
    return _decide_every_step(run, request)


def transfer_request(run: Run, source: str, destination: str, dollars_moved: int):
    """A transfer request through the engine: both sides' owners and approvers decide."""
    source_budget, destination_budget = run.budget(source), run.budget(destination)
    if source_budget is None or destination_budget is None:
        return None
    if source == "pool":
        requester = run.world.manager.user  # the team's lead
    elif source == "project":
        requester = run.world.hr  # the project has no lead: someone in HR asks
    else:
        requester = run.person(source).user
    request = request_submit(
        kind=RequestKind.TRANSFER,
        requester=requester,
        amount_micros=dollars_moved * DOLLAR,
        reason="moving money",
        details={"source": source_budget.pk, "destination": destination_budget.pk},
    )
    return _decide_every_step(run, request)


def adjust(run: Run, owner: str, signed_dollars: int):
    budget = run.budget(owner)
    if budget is None:
        return None
    key = f"adjust-{run.step}"

    def post():
        budget_adjust(
            budget=budget,
            amount_micros=signed_dollars * DOLLAR,
            acting_user=run.world.finance,
            memo="correction",
            idempotency_key=key,
        )

    post()
    return post


def transfer(run: Run, source: str, destination: str, dollars_moved: int):
    source_budget, destination_budget = run.budget(source), run.budget(destination)
    if source_budget is None or destination_budget is None:
        return None
    key = f"transfer-{run.step}"

    def post():
        budget_transfer(
            source=source_budget,
            destination=destination_budget,
            amount_micros=dollars_moved * DOLLAR,
            acting_user=run.world.finance,
            idempotency_key=key,
        )

    post()
    return post


def price_in_force() -> TokenPrice:
    return TokenPrice.objects.filter(model_name="m", effective_from__lte=datetime.now(UTC)).latest(
        "effective_from"
    )


def reprice(run: Run, input_usd: int):
    price_correct(
        price=price_in_force(),
        new=NewPrice(
            input_per_million_micros=input_usd * DOLLAR,
            output_per_million_micros=0,
            cached_input_per_million_micros=0,
        ),
        reason="the provider's invoice says otherwise",
        acting_user=run.world.finance,
    )

    def again():  # the same correction sent twice: the second finds nothing left to correct
        if price_in_force().input_per_million_micros != input_usd * DOLLAR:
            return  # another correction came since: sending this one again is a new one
        reprice(run, input_usd)

    return again


def new_price(run: Run, input_usd: int):
    """The provider's new price from now on (what later calls cost, and what the rollover's
    price indexing compares the closing year's rate with)."""
    if TokenPrice.objects.filter(model_name="m", effective_from__gte=datetime.now(UTC)).exists():
        return None  # one change a moment
    TokenPrice.objects.create(
        model_name="m",
        input_per_million_micros=input_usd * DOLLAR // 2,
        output_per_million_micros=0,
        cached_input_per_million_micros=0,
        effective_from=datetime.now(UTC),
    )

    def again():  # the same notice twice: the price in force is that one already
        if price_in_force().input_per_million_micros == input_usd * DOLLAR // 2:
            return
        new_price(run, input_usd)

    return again


def promote(run: Run, up: bool):
    """b's level changed from today (a promotion to band 2, or back to band 1): this year's
    prorated difference posted by the company's automatic policy (a decrease no further than
    what is unspent and unheld), later years allocated from the new level."""
    level = Level.objects.get(name="band 2" if up else "band 1")

    def change():
        employee_level_change(
            employee=Employee.objects.get(pk=run.world.people["b"].pk),
            new_level=level,
            acting_user=run.world.hr,
            source="admin",
        )

    change()
    return change  # the same change again changes nothing


def project_allocation(run: Run, dollars_asked: int):
    """A project allocation requested by a member and approved through the engine."""
    request = request_submit(
        kind=RequestKind.PROJECT_ALLOCATION,
        requester=run.world.people["a"].user,
        project=run.world.project,
        amount_micros=dollars_asked * DOLLAR,
        reason="agents for the project",
    )
    return _decide_every_step(run, request)


def close_the_year(run: Run):
    """The annual rollover of FY2026, previewed, confirmed by finance and executed."""
    if current_fiscal_year() != 2026:
        return None
    run.world.clock.move_to(NEW_YEAR)
    finance = run.world.finance
    preview = rollover_preview(fiscal_year=2026, acting_user=finance)
    confirmed = rollover_confirm(run=preview, acting_user=finance, enqueue=False)
    rollover_execute(run=confirmed)

    def again():
        rollover_preview(fiscal_year=2026, acting_user=finance)
        rollover_execute(run=confirmed)
        rollover_confirm(run=confirmed, acting_user=finance, enqueue=False)  # refused: done

    return again


def expire_carryover(run: Run):
    """The next day's expiry task: from the expiry date, carried money left unspent goes, and
    what usage reported late drew of it comes back."""
    if current_fiscal_year() != 2027:
        return None
    run.world.clock.move_to(max(datetime.now(UTC) + timedelta(days=1), CARRYOVER_EXPIRES))
    carryover_expire()
    return carryover_expire  # the same day again


def leave(run: Run, who: str):
    """The person leaves: holds released, unused money of this year and later forfeited."""
    employee = run.person(who)
    if employee is None:
        return None

    def close():
        # a fresh row each time: the world's instances outlive the example's rollback
        employee_deactivate(employee=Employee.objects.get(pk=employee.pk), acting_user=None)

    close()
    return close


def accept_offer(run: Run):
    def accept():
        offer_accept(offer=Offer.objects.get(pk=run.world.offer.pk), acting_user=run.world.hr)

    accept()
    return accept  # a second acceptance is refused


def replay(run: Run, pick: int):
    if not run.replays:
        return None
    # given what the database holds, when an applied request is sent again
    before = snapshot()
    again = run.replays[pick % len(run.replays)]
    with contextlib.suppress(AllotError):  # a replay may be refused (an accepted offer)
        again()
    # then nothing changed
    assert snapshot() == before
    return again


cents = st.integers(min_value=1, max_value=8_000)  # up to $80 against budgets of $50 to $100
people = st.sampled_from(["a", "b", "hire"])
requesters = st.sampled_from(["a", "b", "hire", "pool"])  # the pool's manager asks for it
owners = st.sampled_from(["a", "b", "hire", "pool", "project"])
ages = st.sampled_from([timedelta(minutes=1), timedelta(days=3), timedelta(days=10)])
OPERATIONS: dict[str, tuple[Callable, st.SearchStrategy]] = {
    "ingest": (ingest, st.tuples(people, cents, st.booleans(), ages, st.booleans(), st.booleans())),
    "reserve": (reserve, st.tuples(people, cents, st.booleans(), st.booleans())),
    "settle": (settle, st.tuples(st.integers(0, 9), st.integers(0, 8_000), st.booleans())),
    "expire_holds": (expire_holds, st.tuples()),
    "approve": (approve, st.tuples(requesters, st.integers(1, 100))),  # up to $20: the rule
    "adjust": (adjust, st.tuples(owners, st.integers(1, 100).map(lambda d: d if d % 2 else -d))),
    "transfer": (transfer, st.tuples(owners, owners, st.integers(1, 100))),
    "permanent": (permanent, st.tuples(people, st.integers(1, 100))),
    "transfer_request": (transfer_request, st.tuples(owners, owners, st.integers(1, 100))),
    "reprice": (reprice, st.tuples(st.integers(0, 3))),
    "new_price": (new_price, st.tuples(st.integers(1, 4))),  # $0.50 to $2 a million
    "promote": (promote, st.tuples(st.booleans())),
    "project_allocation": (project_allocation, st.tuples(st.integers(1, 100))),
    "rollover": (close_the_year, st.tuples()),
    "expire_carryover": (expire_carryover, st.tuples()),
    "accept_offer": (accept_offer, st.tuples()),
    "leave": (leave, st.tuples(people)),
    "replay": (replay, st.tuples(st.integers(0, 30))),
}
# Recording usage never fails for lack of budget, so these may take a hard budget past its
# limit; every other writer must not take one further past it.
MAY_PASS_A_HARD_LIMIT = frozenset({"ingest", "settle", "reprice", "adjust"})
REPLAY = ("replay", (0,))  # the first request applied, sent again
operations = st.lists(
    st.one_of([st.tuples(st.just(name), args) for name, (_, args) in OPERATIONS.items()]),
    max_size=25,
)


# -- what must hold ------------------------------------------------------------------------------


def stored_totals() -> dict[int, tuple[int, int, int, int]]:
    return {
        row[0]: row[1:]
        for row in Budget.objects.values_list(
            "pk", "allocated_micros", "spent_micros", "reserved_micros", "remaining_micros"
        )
    }


def totals_from_ledger_and_holds() -> dict[int, tuple[int, int, int, int]]:
    """Each budget's totals as its entries and open holds say: SPENT_KINDS move spent."""
    ledger = {
        row["budget_id"]: row
        for row in LedgerEntry.objects.order_by()
        .values("budget_id")
        .annotate(
            allocated=Sum("amount_micros", filter=~Q(kind__in=SPENT_KINDS), default=0),
            spent=Sum("amount_micros", filter=Q(kind__in=SPENT_KINDS), default=0),
        )
    }
    held = dict(
        Reservation.objects.filter(state=ReservationState.HELD)
        .order_by()
        .values("budget_id")
        .annotate(total=Sum("amount_micros"))
        .values_list("budget_id", "total")
    )
    expected = {}
    for budget_id in Budget.objects.values_list("pk", flat=True):
        row = ledger.get(budget_id, {"allocated": 0, "spent": 0})
        reserved = held.get(budget_id, 0)
        remaining = row["allocated"] - row["spent"] - reserved
        expected[budget_id] = (row["allocated"], row["spent"], reserved, remaining)
    return expected


def overruns() -> dict[int, int]:
    """How far each hard budget's committed money (spent + reserved) is past its limit."""
    return {
        budget.pk: max(0, budget.spent_micros + budget.reserved_micros - budget.limit_micros)
        for budget in Budget.objects.exclude(enforcement=Enforcement.SOFT)
    }


def snapshot() -> tuple:
    """Everything a replay could move: totals, entries, holds, usage, the daily rollup."""
    return (
        sorted(
            Budget.objects.values_list(
                "pk",
                "allocated_micros",
                "spent_micros",
                "reserved_micros",
                "carried_over_micros",
                "carryover_expired_on",
            )
        ),
        LedgerEntry.objects.count(),
        sorted(Reservation.objects.values_list("pk", "state")),
        UsageEvent.objects.count(),
        DailySpend.objects.aggregate(total=Sum("spent_micros"))["total"],
    )


@hypothesis_settings(
    max_examples=50,
    # The same 50 sequences on every run, so CI's verdict is the code's, not the draw's; run
    # with --hypothesis-seed=<n> and derandomize off to search further.
    derandomize=True,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(operations)
# Found by a random draw: a hold past its time, not yet released by the beat, was still held at
# the close (and at the carryover's expiry), and the beat's next run moved money the close had
# decided; a hold asked with an instance read before its person left outlived their close, and
# closing them again released it (tests/budgets/test_replay_after_a_clock_move.py).
@example([("expire_holds", ()), ("reserve", ("a", 1, False, False)), ("rollover", ()), REPLAY])
@example([("leave", ("a",)), ("reserve", ("a", 1, False, True)), ("rollover", ()), REPLAY])
@example(
    [
        ("expire_holds", ()),
        ("rollover", ()),
        ("reserve", ("a", 1, False, False)),
        ("expire_carryover", ()),
        REPLAY,
    ]
)
# Found by hypothesis: a leaver's forfeiture took the carried-over money, and the carryover's
# expiry then took it again, $50 past a hard limit.
@example(
    [
        ("rollover", ()),
        ("reserve", ("a", 1, False, False)),
        ("leave", ("a",)),
        ("reserve", ("a", 1, False, False)),
        ("expire_carryover", ()),
    ]
)
def test_every_writer_keeps_the_totals_equal_to_the_ledger_and_hard_limits(world, ops):
    with transaction.atomic():
        # given FY2026 with two hard personal budgets, a soft pool, a hard project and an offer
        world.clock.move_to(START)
        run = Run(world=world)
        for run.step, (name, args) in enumerate(ops):
            before = overruns()
            # when any writer runs (one the services refuse must leave no trace)
            apply, _ = OPERATIONS[name]
            try:
                again = apply(run, *args)
                event(f"{name}: {'applied' if again else 'nothing to do'}")
            except AllotError:
                again = None
                event(f"{name}: refused")
            if again is not None and again not in run.replays:
                run.replays.append(again)
            # then every budget's totals are its ledger's and its open holds', to the micro
            assert stored_totals() == totals_from_ledger_and_holds(), name
            # and no writer that enforces limits took a hard budget further past its limit
            if name not in MAY_PASS_A_HARD_LIMIT:
                after = overruns()
                pushed = {pk: over for pk, over in after.items() if over > before.get(pk, 0)}
                assert not pushed, f"{name} took hard budgets past their limit: {pushed}"
        transaction.set_rollback(True)
