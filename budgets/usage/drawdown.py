"""Who pays for a call: the drawdown order and its rule (shared with authorize), the budgets a
batch may draw from, and the in-memory decision for a whole batch against those budgets."""

from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from functools import cache

from django.db import connection
from django.db.models import Q

from budgets.calculations import limit_micros
from budgets.carryover import freed_hold_forfeitures
from budgets.ledger import DaySpend, Owner, budgets_open
from budgets.models import Budget, OwnerKind, ReservationState
from budgets.rollover import FreedHold
from budgets.usage.parse import IngestResult, ParsedEvent
from common.rawsql import Columns, int_array, model_columns


def drawdown_order(
    *,
    project_budget: Budget | None,
    personal: Budget | None,
    pool: Budget | None,
) -> list[Budget]:
    """Who pays, in order: the project's allocation (for members), personal, then the team pool
    where the team lets usage overflow into it."""
    return [b for b in (project_budget, personal, pool) if b is not None]


def has_room(budget: Budget, amount_micros: int) -> bool:
    """Whether a budget can take this spend within its limit: the allocation for a soft budget,
    the allocation plus any overdraft for a hard one. Reserved money counts as spent."""
    limit = budget.limit_micros
    if limit is None:
        limit = budget.allocated_micros
    return budget.spent_micros + budget.reserved_micros + amount_micros <= limit


def drawdown_payer(order: list[Budget], amount_micros: int) -> Budget | None:
    """The first budget in drawdown order with room; else the first soft one (soft budgets allow
    and warn); None when only full hard budgets remain. Authorize and ingest share this rule."""
    fitting = next((b for b in order if has_room(b, amount_micros)), None)
    if fitting is not None:
        return fitting
    return next((b for b in order if b.limit_micros is None), None)


def fiscal_year_of_day(day: date, start_month: int) -> int:
    return day.year if day.month >= start_month else day.year - 1


def personal_budgets_ensure(events: list[ParsedEvent], fiscal_years: dict[int, int]) -> None:
    """Create the personal budgets the batch needs and lacks (before any budget is locked: an
    insert that meets a concurrent one waits for it, which must not happen under our locks)."""
    pairs = {(e.employee.pk, fiscal_years[e.index]) for e in events}
    employee_ids = sorted({emp for emp, _ in pairs})
    years = sorted(set(fiscal_years.values()))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT employee_id, fiscal_year FROM {Budget._meta.db_table} "  # nosec B608  # noqa: S608
                "WHERE employee_id = ANY(%s::bigint[]) AND fiscal_year = ANY(%s::int[])",
                [int_array(employee_ids), int_array(years)],
            )
            have = set(cursor.fetchall())
    else:
        have = set(
            Budget.objects.filter(employee_id__in=employee_ids, fiscal_year__in=years).values_list(
                "employee_id", "fiscal_year"
            )
        )
    missing = sorted(pairs - have)
    by_year: dict[int, list[Owner]] = defaultdict(list)
    for employee_id, fiscal_year in missing:
        by_year[fiscal_year].append(Owner(OwnerKind.EMPLOYEE, employee_id))
    for fiscal_year, owners in sorted(by_year.items()):
        budgets_open(fiscal_year=fiscal_year, owners=owners)


def budgets_for(
    events: list[ParsedEvent], fiscal_years: dict[int, int], extra_ids: set[int], *, lock: bool
) -> tuple[dict, dict]:
    """Every budget the batch may draw from (by owner and year, plus `extra_ids`: the budgets of
    reservations being settled), locked in id order when `lock` (so two batches cannot
    deadlock). On PostgreSQL one hand-written statement with array parameters: the ORM's
    IN lists of a thousand placeholders cost more to build and parse than the query."""
    employee_ids = sorted({e.employee.pk for e in events})
    team_ids = sorted({e.employee.team_id for e in events if e.employee.team_id})
    project_ids = sorted({e.project.pk for e in events if e.project})
    years = sorted(set(fiscal_years.values()))
    if connection.vendor == "postgresql":
        columns = _budget_columns()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns.select} FROM {Budget._meta.db_table} b "  # nosec B608  # noqa: S608
                "WHERE (b.employee_id = ANY(%s::bigint[]) OR b.team_id = ANY(%s::bigint[])"
                " OR b.project_id = ANY(%s::bigint[]) OR b.id = ANY(%s::bigint[]))"
                " AND (b.fiscal_year = ANY(%s::int[]) OR b.id = ANY(%s::bigint[])) "
                f"ORDER BY b.id{' FOR UPDATE' if lock else ''}",
                [
                    int_array(employee_ids),
                    int_array(team_ids),
                    int_array(project_ids),
                    int_array(sorted(extra_ids)),
                    int_array(years),
                    int_array(sorted(extra_ids)),
                ],
            )
            found = [_BudgetRow(*row) for row in cursor.fetchall()]
    else:
        owners = Q(employee_id__in=employee_ids)
        if extra_ids:
            owners |= Q(pk__in=extra_ids)
        if team_ids:
            owners |= Q(team_id__in=team_ids)
        if project_ids:
            owners |= Q(project_id__in=project_ids)
        budgets = Budget.objects.filter(owners, Q(fiscal_year__in=years) | Q(pk__in=extra_ids))
        if lock:
            budgets = budgets.select_for_update()
        found = list(budgets.order_by("pk"))
    by_owner: dict[tuple[str, int, int], Budget] = {}
    for budget in found:
        kind = "employee" if budget.employee_id else "team" if budget.team_id else "project"
        owner_id = budget.employee_id or budget.team_id or budget.project_id
        by_owner[(kind, owner_id, budget.fiscal_year)] = budget
    return by_owner, {budget.id: budget for budget in found}


@dataclass(slots=True)
class _BudgetRow:
    """What the drawdown, its limits and the totals need of a budget (a Budget instance has the
    same attributes; building a thousand of those cost more than the query that reads them)."""

    id: int
    employee_id: int | None
    team_id: int | None
    project_id: int | None
    fiscal_year: int
    enforcement: str
    overdraft_percent: Decimal
    allocated_micros: int
    spent_micros: int
    reserved_micros: int

    @property
    def limit_micros(self) -> int | None:  # a hold forfeited mid-batch moves allocated
        return limit_micros(
            enforcement=self.enforcement,
            allocated_micros=self.allocated_micros,
            overdraft_percent=self.overdraft_percent,
        )


@cache
def _budget_columns() -> Columns:
    """The SELECT list of a _BudgetRow, in its fields' order."""
    read = [f.name for f in fields(_BudgetRow) if f.init]
    columns = model_columns(Budget, "b", connection, only=[n.removesuffix("_id") for n in read])
    if columns.names != read or columns.converters:
        raise TypeError(f"Budget's columns {columns.names} no longer fit _BudgetRow.")
    return columns


@dataclass
class Drawdown:
    """A batch's decision: what to write, and the totals it leaves."""

    rows: list = field(default_factory=list)  # (event, payer, reservation)
    touched: dict = field(default_factory=dict)  # budget id -> Budget with its new totals
    settled: list = field(default_factory=list)
    freed: list = field(default_factory=list)  # FreedHold: forfeited from a closed year
    daily: dict[tuple[int, date], DaySpend] = field(default_factory=lambda: defaultdict(DaySpend))


def _reservation_usable(reservation, event: ParsedEvent, source: str, result: IngestResult) -> bool:
    if reservation is None or (reservation.source and reservation.source != source):
        error = "No such reservation for this API key."
    elif reservation.employee_id != event.employee.pk:
        error = "This reservation was made for another employee."
    elif reservation.state in (ReservationState.SETTLED, ReservationState.RELEASED):
        error = f"This reservation is already {reservation.state}."
    else:
        return True
    result.reject(event.index, event.event_id, {"reservation": [error]})
    return False


def draw_down(
    events: list[ParsedEvent],
    *,
    budgets: dict,
    budgets_by_id: dict,
    memberships: set,
    reservations: dict,
    fiscal_years: dict[int, int],
    local_days: dict[int, date],
    source: str,
    result: IngestResult,
    now: datetime,
    closed: dict[int, int] | None = None,
) -> Drawdown:
    """Decide who pays each event, in the order the calls happened, against `budgets` (whose
    totals this moves). `closed`: the reservations' budgets whose year a rollover has closed
    (budget id -> run id); a hold settled on one of them forfeits what it gives back."""
    out = Drawdown()
    closed = closed or {}
    for event in sorted(events, key=lambda e: (e.occurred_at, e.index)):
        fiscal_year = fiscal_years[event.index]
        reservation = reservations.get(event.reservation_id) if event.reservation_id else None
        if event.reservation_id and not _reservation_usable(reservation, event, source, result):
            continue
        payer = held_on = None
        freed = 0  # what a settled hold gives back (an expired one gave it back when it expired)
        if reservation is not None:
            held_on = budgets_by_id[reservation.budget_id]
            if reservation.state == ReservationState.HELD:
                held_on.reserved_micros -= reservation.amount_micros
                out.touched[held_on.id] = held_on
                freed = reservation.amount_micros
            reservation.state = ReservationState.SETTLED
            reservation.closed_at = now
            out.settled.append(reservation)
            # The actual cost replaces the hold on the same budget, unless the call landed in
            # another fiscal year (then the hold is just released and the usage drawn as usual).
            if held_on.fiscal_year == fiscal_year:
                payer = held_on
                freed -= event.cost_micros
        if payer is None:
            employee = event.employee
            project_budget = None
            if event.project and (event.project.pk, employee.pk) in memberships:
                project_budget = budgets.get(("project", event.project.pk, fiscal_year))
            pool = None
            team = employee.team
            if team is not None and team.has_pool and team.pool_overflow:
                pool = budgets.get(("team", team.pk, fiscal_year))
            order = drawdown_order(
                project_budget=project_budget,
                personal=budgets[("employee", employee.pk, fiscal_year)],
                pool=pool,
            )
            # Usage already happened: when every budget is full it is still recorded, on the
            # first in order (authorize is where limits are enforced).
            payer = drawdown_payer(order, event.cost_micros) or order[0]
        payer.spent_micros += event.cost_micros
        out.touched[payer.id] = payer
        if freed > 0 and held_on.id in closed:
            # Its year is closed: what the hold gave back is forfeited, as far as the budget
            # has unused money at this moment (after this event's own cost), in call order, so
            # the outcome does not depend on how a gateway split its batches.
            remaining = held_on.allocated_micros - held_on.spent_micros - held_on.reserved_micros
            forfeited = freed_hold_forfeitures(remaining_micros=remaining, freed_micros=[freed])
            if forfeited[0]:
                held_on.allocated_micros -= forfeited[0]
                out.freed.append(FreedHold(reservation.pk, held_on.id, forfeited[0]))
        daily = out.daily[(payer.id, local_days[event.index])]
        daily.spent_micros += event.cost_micros
        daily.events += 1
        out.rows.append((event, payer, reservation))
    return out
