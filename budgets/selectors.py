"""Reads: balances, prices in force, the budgets that can serve an employee."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import BigIntegerField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncMonth

from budgets.calculations import (
    CACHE_WRITE_1H_QUARTERS,
    CACHE_WRITE_5M_QUARTERS,
    TOKENS_PER_PRICE_UNIT,
    cost_at,
    tokens_at_rate,
    utilisation_percent,
)
from budgets.models import (
    AlertClaim,
    AlertDelivery,
    AlertKind,
    Budget,
    DailySpend,
    OwnerKind,
    PriceCorrection,
    TokenPrice,
)
from common.money import Micros, divide_micros
from common.rawsql import Columns, model_columns
from people.models import Employee, Project, Team
from people.selectors import (
    company_settings,
    company_today,
    current_fiscal_year,
    fiscal_year_period,
)


def price_in_force(*, model_name: str, at: datetime) -> TokenPrice | None:
    """The price of a model at a moment: the latest one effective on or before it."""
    return (
        TokenPrice.objects.filter(model_name=model_name, effective_from__lte=at)
        .order_by("-effective_from")
        .first()
    )


def employee_budgets(*, employee: Employee, fiscal_year: int) -> QuerySet[Budget]:
    """Every budget that can serve the employee in a year: personal, team pool, their projects."""
    owners = Q(employee=employee)
    if employee.team_id:
        owners |= Q(team_id=employee.team_id)
    # Project ids first (an indexed lookup): an IN (subquery) or a join inside the OR makes
    # PostgreSQL filter every budget of the year (measured: 8.8 ms against 4.6 at 10,000).
    project_ids = list(
        Project.members.through.objects.filter(employee_id=employee.pk).values_list(
            "project_id", flat=True
        )
    )
    if project_ids:
        owners |= Q(project_id__in=project_ids)
    return Budget.objects.filter(owners, fiscal_year=fiscal_year).select_related(
        "employee__user", "team", "project"
    )


def _window_spend(budget_ids: list[int], today: date) -> dict[int, Micros]:
    """Spend of the last 30 days per budget, in one grouped query over the daily rollup."""
    return dict(
        DailySpend.objects.filter(
            budget_id__in=budget_ids,
            day__gt=today - timedelta(days=BURN_WINDOW_DAYS),
            day__lte=today,
        )
        .values("budget_id")
        .annotate(total=Sum("spent_micros"))
        .values_list("budget_id", "total")
    )


BURN_WINDOW_DAYS = 30


# Beyond this the projected run-out date is "not in any foreseeable future" (and past 9999 it
# would not even be a date).
PROJECTION_HORIZON_DAYS = 100 * 365


@dataclass(frozen=True)
class Burn:
    burn_rate_micros_per_day: Micros
    projected_exhaustion_date: date | None


def budget_burn(*, budget: Budget, today: date | None = None) -> Burn:
    """Average daily spend over the last 30 days (from the daily rollup: at most 30 rows), and
    the day the remaining money runs out at that rate (None when it does not)."""
    today = today or company_today()
    spent = (
        DailySpend.objects.filter(
            budget=budget, day__gt=today - timedelta(days=BURN_WINDOW_DAYS), day__lte=today
        ).aggregate(total=Sum("spent_micros"))["total"]
        or 0
    )
    return _burn(budget, spent, today)


def _burn(budget: Budget, spent_in_window: Micros, today: date | None = None) -> Burn:
    today = today or company_today()
    rate = divide_micros(spent_in_window, BURN_WINDOW_DAYS)
    remaining = budget.allocated_micros - budget.spent_micros - budget.reserved_micros
    if rate <= 0:
        return Burn(rate, None)
    if remaining <= 0:
        return Burn(rate, today)
    days = remaining // rate
    if days > PROJECTION_HORIZON_DAYS:  # a trickle against a large budget: no date worth giving
        return Burn(rate, None)
    return Burn(rate, today + timedelta(days=days))


@dataclass(frozen=True)
class BudgetBalance:
    budget: Budget
    owner_kind: str
    allocated_micros: Micros
    spent_micros: Micros
    reserved_micros: Micros
    remaining_micros: Micros
    utilisation_percent: Decimal | None
    tokens_left: int
    burn_rate_micros_per_day: Micros
    projected_exhaustion_date: date | None


def budget_balance(
    *,
    budget: Budget,
    usd_per_token: Decimal | None = None,
    today: date | None = None,
    burn: Burn | None = None,
) -> BudgetBalance:
    """One budget's balance from its stored totals and at most 30 rollup rows: O(1) in events."""
    rate = usd_per_token or company_settings().reference_rate_usd_per_token
    remaining = budget.allocated_micros - budget.spent_micros - budget.reserved_micros
    burn = burn or budget_burn(budget=budget, today=today)
    return BudgetBalance(
        budget=budget,
        owner_kind=budget.owner_kind,
        allocated_micros=budget.allocated_micros,
        spent_micros=budget.spent_micros,
        reserved_micros=budget.reserved_micros,
        remaining_micros=remaining,
        utilisation_percent=utilisation_percent(
            allocated_micros=budget.allocated_micros, spent_micros=budget.spent_micros
        ),
        tokens_left=tokens_at_rate(remaining, rate),
        burn_rate_micros_per_day=burn.burn_rate_micros_per_day,
        projected_exhaustion_date=burn.projected_exhaustion_date,
    )


_KIND_ORDER = {OwnerKind.PROJECT: 0, OwnerKind.EMPLOYEE: 1, OwnerKind.TEAM: 2}


@cache
def _balance_sql(db: str) -> tuple[str, list[Columns]]:
    """One statement for employee_balance: the budgets that serve the employee (three indexed
    lookups: personal, team pool, their projects, so the planner never filters every budget of
    the year), each with its owner's rows and its 30-day spend from the daily rollup."""

    parts = [
        (Budget, "b"),
        (Employee, "e"),
        (get_user_model(), "u"),
        (Team, "t"),
        (Project, "p"),
    ]
    connection = connections[db]
    layout, selects = [], []
    for model, alias in parts:
        columns = model_columns(model, alias, connection)
        layout.append(columns)
        selects.append(columns.select)
    budget = Budget._meta.db_table
    members = Project.members.through._meta.db_table
    sql = (
        f"WITH mine AS ("  # nosec B608  # noqa: S608 (table names from the models, values as parameters)
        f"SELECT id FROM {budget} WHERE fiscal_year = %s AND employee_id = %s "
        f"UNION SELECT id FROM {budget} WHERE fiscal_year = %s AND team_id = %s "
        f"UNION SELECT bb.id FROM {budget} bb JOIN {members} m ON m.project_id = bb.project_id "
        f"WHERE bb.fiscal_year = %s AND m.employee_id = %s) "
        f"SELECT {', '.join(selects)}, "
        f"(SELECT CAST(SUM(d.spent_micros) AS BIGINT) FROM {DailySpend._meta.db_table} d "
        f"WHERE d.budget_id = b.id AND d.day > %s AND d.day <= %s) "
        f"FROM {budget} b JOIN mine ON mine.id = b.id "
        f"LEFT JOIN {Employee._meta.db_table} e ON e.id = b.employee_id "
        f"LEFT JOIN {get_user_model()._meta.db_table} u ON u.id = e.user_id "
        f"LEFT JOIN {Team._meta.db_table} t ON t.id = b.team_id "
        f"LEFT JOIN {Project._meta.db_table} p ON p.id = b.project_id"
    )
    return sql, layout


def _budgets_with_window(
    *, employee: Employee, fiscal_year: int, today: date
) -> list[tuple[Budget, Micros]]:
    """The budgets of employee_budgets, with their owners attached as select_related would, and
    each one's spend over the burn window. Raw SQL: building this query through the ORM cost
    more than running it (about 1 ms a call)."""
    db = Budget.objects.db
    connection = connections[db]
    sql, layout = _balance_sql(db)
    params = [
        fiscal_year,
        employee.pk,
        fiscal_year,
        employee.team_id,
        fiscal_year,
        employee.pk,
        today - timedelta(days=BURN_WINDOW_DAYS),
        today,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found = []
    for row in rows:
        start, instances = 0, []
        for columns in layout:
            values = row[start : start + len(columns.names)]
            start += len(columns.names)
            # A LEFT JOIN with no owner of that kind gives a row of NULLs.
            instances.append(None if values[0] is None else columns.build(db, connection, values))
        budget, owner, user, team, project = instances
        if owner is not None:
            Employee.user.field.set_cached_value(owner, user)
        Budget.employee.field.set_cached_value(budget, owner)
        Budget.team.field.set_cached_value(budget, team)
        Budget.project.field.set_cached_value(budget, project)
        found.append((budget, row[start] or 0))
    return found


def employee_balance(
    *,
    employee: Employee,
    fiscal_year: int | None = None,
    today: date | None = None,
    usd_per_token: Decimal | None = None,
) -> list[BudgetBalance]:
    """The employee's balance in every budget that can serve them, in drawdown order.
    One query, however many events or budgets there are."""
    fiscal_year = fiscal_year or current_fiscal_year()
    today = today or company_today()
    rate = usd_per_token or company_settings().reference_rate_usd_per_token
    found = sorted(
        _budgets_with_window(employee=employee, fiscal_year=fiscal_year, today=today),
        key=lambda pair: (_KIND_ORDER[pair[0].owner_kind], pair[0].pk),
    )
    return [
        budget_balance(budget=b, usd_per_token=rate, burn=_burn(b, spent, today), today=today)
        for b, spent in found
    ]


def employee_monthly_spend(
    *, employee: Employee, fiscal_year: int, repriced: list["RepricedSpend"] | None = None
) -> list[tuple[date, Micros]]:
    """The employee's own usage per month of the fiscal year (company zone), whichever budget
    paid, with what price corrections changed (`repriced`: repriced_spend's answer, if the
    caller has it); months without usage are zero."""

    period = fiscal_year_period(fiscal_year)
    by_month = {
        month.date() if isinstance(month, datetime) else month: total
        for month, total in employee.usage_events.filter(
            occurred_at__date__gte=period.start, occurred_at__date__lt=period.end
        )
        .annotate(month=TruncMonth("occurred_at"))
        .values("month")
        .annotate(total=Sum("cost_micros"))
        .values_list("month", "total")
    }
    if repriced is None:
        repriced = repriced_spend(employee=employee, fiscal_year=fiscal_year)
    for row in repriced:
        by_month[row.month] = by_month.get(row.month, 0) + row.delta_micros
    months, month = [], period.start
    while month < period.end:
        months.append((month, by_month.get(month, 0)))
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return months


SPEND_REST_LABEL = "All others"


def employee_spend_by(
    *,
    employee: Employee,
    fiscal_year: int,
    field: str,
    limit: int | None = 8,
    repriced: list["RepricedSpend"] | None = None,
) -> list[tuple[str, Micros]]:
    """The employee's usage this year grouped by `category` or `model_name`, largest first,
    with what price corrections changed (`repriced` as for employee_monthly_spend). Past
    `limit` rows the smallest are summed into one row named SPEND_REST_LABEL."""

    if field not in ("category", "model_name"):
        raise ValueError(field)
    period = fiscal_year_period(fiscal_year)
    rows = (
        employee.usage_events.filter(
            occurred_at__date__gte=period.start, occurred_at__date__lt=period.end
        )
        .values(field)
        .annotate(total=Sum("cost_micros"))
        .values_list(field, "total")
    )
    totals = dict(rows)
    if repriced is None:
        repriced = repriced_spend(employee=employee, fiscal_year=fiscal_year)
    for row in repriced:
        key = getattr(row, field)
        totals[key] = totals.get(key, 0) + row.delta_micros
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    if limit is None or len(ranked) <= limit:
        return ranked
    # The rest in one row, so the chart's parts still sum to the year's spend.
    rest = sum(total for _, total in ranked[limit - 1 :])
    return [*ranked[: limit - 1], (SPEND_REST_LABEL, rest)]


@dataclass(frozen=True, slots=True)
class RepricedSpend:
    month: date  # first day, company zone
    category: str
    model_name: str
    delta_micros: Micros  # what price corrections added to what these events were charged


def corrected_price_ids() -> set[int]:
    """The price versions a correction changed after they priced events (a small table)."""
    return set(PriceCorrection.objects.values_list("price_id", flat=True).distinct())


def _cost_now() -> ExpressionWrapper:
    """An event's cost at its price version's current rates, rounded half-up to the micro as
    budgets.calculations.usage_cost_micros does (in quarter-micros, as it counts; every term is
    non-negative, so adding half and dividing as integers is half-up). A cache-write rate
    left empty is its documented multiple of the input rate."""
    input_rate = F("price__input_per_million_micros")
    numerator = (
        4 * F("input_tokens") * input_rate
        + 4 * F("output_tokens") * F("price__output_per_million_micros")
        + 4 * F("cached_input_tokens") * F("price__cached_input_per_million_micros")
        + F("cache_write_tokens")
        * Coalesce(
            4 * F("price__cache_write_per_million_micros"), CACHE_WRITE_5M_QUARTERS * input_rate
        )
        + F("cache_write_1h_tokens")
        * Coalesce(
            4 * F("price__cache_write_1h_per_million_micros"),
            CACHE_WRITE_1H_QUARTERS * input_rate,
        )
    )
    unit = 4 * TOKENS_PER_PRICE_UNIT
    return ExpressionWrapper((numerator + unit // 2) / unit, output_field=BigIntegerField())


def repriced_spend(
    *, employee: Employee, fiscal_year: int, price_ids: set[int] | None = None
) -> list[RepricedSpend]:
    """What price corrections added to the employee's own usage of the year, by month, category
    and model. History is not edited (budgets.pricing posts one correction entry per budget),
    so the events keep what they were charged; this is the difference to show their spend with
    the same totals as their balance.

    An event priced by a price version costs what the version's current rates give: each
    correction posted new - old, so their sum is current - charged. Summed in the database over
    the events those prices priced; nothing when no price was ever corrected (`price_ids`:
    corrected_price_ids(), if the caller has it)."""

    price_ids = corrected_price_ids() if price_ids is None else price_ids
    if not price_ids:
        return []
    period = fiscal_year_period(fiscal_year)
    rows = (
        employee.usage_events.filter(
            occurred_at__date__gte=period.start,
            occurred_at__date__lt=period.end,
            price_id__in=sorted(price_ids),
        )
        .annotate(month=TruncMonth("occurred_at"))
        .values("month", "category", "model_name")
        .annotate(delta=Sum(_cost_now() - F("cost_micros")))
        .order_by()
        .values_list("month", "category", "model_name", "delta")
    )
    return [
        RepricedSpend(
            month.date() if isinstance(month, datetime) else month, category, model, delta
        )
        for month, category, model, delta in rows
        if delta
    ]


def event_cost_now(event, price_ids: set[int]) -> Micros:
    """One event's cost with the corrections of its price (what the charts add up), for the
    few events a page lists; `event.price` is read when its price was corrected."""
    if event.price_id is None or event.price_id not in price_ids:
        return event.cost_micros
    return cost_at(
        event.price,
        input_tokens=event.input_tokens,
        output_tokens=event.output_tokens,
        cached_input_tokens=event.cached_input_tokens,
        cache_write_tokens=event.cache_write_tokens,
        cache_write_1h_tokens=event.cache_write_1h_tokens,
    )


def employee_recent_usage(*, employee: Employee, limit: int = 10):
    return employee.usage_events.select_related(
        "budget__project", "budget__team", "price"
    ).order_by("-occurred_at")[:limit]


def budget_balances(budgets: list[Budget]) -> list[BudgetBalance]:
    """Balances of many budgets with one grouped query for their burn (team pages), in order."""
    today = company_today()
    window = _window_spend([b.pk for b in budgets], today)
    rate = company_settings().reference_rate_usd_per_token
    return [
        budget_balance(
            budget=budget, usd_per_token=rate, burn=_burn(budget, window.get(budget.pk, 0), today)
        )
        for budget in budgets
    ]


def personal_balances(*, employees: list[Employee], fiscal_year: int) -> dict[int, BudgetBalance]:
    """Personal balances of many employees in three queries (team pages), by employee id."""
    budgets = list(
        Budget.objects.filter(employee__in=employees, fiscal_year=fiscal_year).select_related(
            "employee__user"
        )
    )
    return {balance.budget.employee_id: balance for balance in budget_balances(budgets)}


def alerts_reached(*, budget_ids: list[int]) -> dict[int, list[str]]:
    """Per budget, the thresholds it has reached, as the dashboard words them ("90 % (already
    passed on import, nobody emailed)"), lowest first."""
    reached: dict[int, list[str]] = {}
    for claim in AlertClaim.objects.filter(
        budget_id__in=budget_ids, kind=AlertKind.THRESHOLD
    ).order_by("budget_id", "threshold"):
        note = {
            AlertDelivery.BASELINE: " (already passed when created or imported; nobody emailed)",
            AlertDelivery.COVERED: " (in the message for a higher one)",
        }.get(claim.delivery, "")
        reached.setdefault(claim.budget_id, []).append(f"{claim.threshold} %{note}")
    return reached
