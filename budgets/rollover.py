"""The annual rollover: close one fiscal year into the next, previewable and exactly once.

For every owner (employee, team, project) of a budget in the closed year, and every active
employee without one, a plan says what is unused, what carries over, what is forfeited and what
the new year allocates (from the level, after promotions; nothing for leavers). The preview sums
the plans without writing. Committing applies them in chunks: each chunk is one transaction that
locks its budgets, writes one RolloverItem per owner (unique per run and owner: a second
application is impossible, not just unlikely), the ledger entries, and the budgets' totals. A
killed worker loses only its open chunk; running again picks up the owners without an item.
"""

import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from budgets.calculations import prorate_micros
from budgets.carryover import (
    RUNNING_PROJECT_RULE,
    TEAM_POOL_RULE,
    CarryoverRule,
    CarryoverSplit,
    RuleOverride,
    carryover_split,
    expiry_date,
    rate_after_price_change,
    rule_resolve,
)
from budgets.models import (
    Budget,
    CarryoverAppliesTo,
    CarryoverPolicy,
    EntryKind,
    LedgerEntry,
    RolloverItem,
    RolloverRun,
    RolloverState,
    TokenPrice,
    UsageEvent,
)
from budgets.services import level_allocation_key_for_id
from common.errors import AllotError
from common.fiscal import Period
from common.money import Micros, format_usd
from people.models import AllocationModel, Employee
from people.selectors import company_settings, fiscal_year_period

logger = logging.getLogger(__name__)
User = AbstractBaseUser

CHUNK_SIZE = 500
PREVIEW_BATCH = 5_000
CHUNK_ATTEMPTS = 10


class Outcome:
    CARRIED = "carried over"
    NOTHING_UNUSED = "nothing unused"
    LEFT = "left: unused forfeited"
    JOINED = "new allocation only"
    POOL = "team pool"
    POOL_CLOSED = "pool closed: forfeited"
    PROJECT_CONTINUES = "project continues"
    PROJECT_ENDED = "project ended: forfeited"


SOURCE_FIELDS = [
    "id",
    "employee_id",
    "team_id",
    "project_id",
    "allocated_micros",
    "spent_micros",
    "reserved_micros",
    "enforcement",
    "overdraft_percent",
    "alert_thresholds",
    "employee__user__email",
    "employee__level_id",
    "employee__level__name",
    "employee__level__default_annual_budget_micros",
    "employee__team_id",
    "employee__is_active",
    "employee__left_on",
    "employee__hire_date",
    "team__name",
    "team__has_pool",
    "project__code",
    "project__ends_on",
]
EMPLOYEE_FIELDS = {
    "employee_id": "id",
    "employee__user__email": "user__email",
    "employee__level_id": "level_id",
    "employee__level__name": "level__name",
    "employee__level__default_annual_budget_micros": "level__default_annual_budget_micros",
    "employee__team_id": "team_id",
    "employee__is_active": "is_active",
    "employee__left_on": "left_on",
    "employee__hire_date": "hire_date",
}


@dataclass
class RolloverContext:
    """Everything a plan needs that is the same for every owner: loaded once per run."""

    fiscal_year: int
    next_period: Period
    company_rule: CarryoverRule
    allocate_levels: bool
    personal: dict[tuple[str, int | None], RuleOverride] = field(default_factory=dict)
    pools: dict[int | None, RuleOverride] = field(default_factory=dict)
    projects: RuleOverride | None = None

    def personal_rule(self, *, level_id: int | None, team_id: int | None) -> CarryoverRule:
        return rule_resolve(
            self.company_rule,
            self.personal.get(("company", None)),
            self.personal.get(("level", level_id)) if level_id else None,
            self.personal.get(("team", team_id)) if team_id else None,
        )

    def pool_rule(self, team_id: int) -> CarryoverRule:
        return rule_resolve(TEAM_POOL_RULE, self.pools.get(None), self.pools.get(team_id))

    def project_rule(self) -> CarryoverRule:
        return rule_resolve(RUNNING_PROJECT_RULE, self.projects)


@dataclass
class OwnerPlan:
    owner_key: str
    kind: str  # employee, team or project
    owner_id: int
    label: str
    group: str  # for totals: the level, "Team pools" or "Projects"
    outcome: str
    source_budget_id: int | None
    unused_micros: Micros = 0
    carried_micros: Micros = 0
    forfeited_micros: Micros = 0
    allocation_micros: Micros = 0
    level_allocation_micros: Micros = 0  # what the level gives, even if already allocated
    already_allocated: bool = False
    has_target: bool = True
    expiry_months: int = 0
    source_settings: dict = field(default_factory=dict)

    @property
    def new_year_micros(self) -> Micros:
        return self.carried_micros + self.allocation_micros


def _override(policy: CarryoverPolicy) -> RuleOverride:
    return RuleOverride(
        share_percent=policy.share_percent,
        cap_micros=policy.cap_micros,
        cap_percent_of_allocation=policy.cap_percent_of_allocation,
        expiry_months=policy.expiry_months,
    )


def rollover_context(*, fiscal_year: int) -> RolloverContext:
    settings_row = company_settings()
    context = RolloverContext(
        fiscal_year=fiscal_year,
        next_period=fiscal_year_period(fiscal_year + 1),
        company_rule=CarryoverRule(
            share_percent=settings_row.carryover_share_percent,
            cap_micros=settings_row.carryover_cap_micros,
            expiry_months=settings_row.carryover_expiry_months,
        ),
        allocate_levels=settings_row.allocation_model != AllocationModel.PROJECTS,
    )
    for policy in CarryoverPolicy.objects.all():
        override = _override(policy)
        if policy.applies_to == CarryoverAppliesTo.PERSONAL:
            if policy.level_id:
                context.personal[("level", policy.level_id)] = override
            elif policy.team_id:
                context.personal[("team", policy.team_id)] = override
            else:
                context.personal[("company", None)] = override
        elif policy.applies_to == CarryoverAppliesTo.TEAM_POOL:
            context.pools[policy.team_id] = override
        else:
            context.projects = override
    return context


# -- plans (pure given the rows: the preview and the commit both come here) ---------------------


def _employee_leaves(row: dict, next_start: date) -> bool:
    left_on = row["employee__left_on"]
    return not row["employee__is_active"] or (left_on is not None and left_on < next_start)


def _split_all_forfeited(unused: Micros) -> CarryoverSplit:
    unused = max(0, unused)
    return CarryoverSplit(unused, 0, unused)


def owner_plan(row: dict, context: RolloverContext, allocated_employees: set[int]) -> OwnerPlan:
    """The plan of one owner from its closed-year budget row (or, for an employee without one,
    from the employee's row with no amounts)."""
    unused = row["allocated_micros"] - row["spent_micros"] - row["reserved_micros"]
    settings = {
        "enforcement": row.get("enforcement"),
        "overdraft_percent": row.get("overdraft_percent"),
        "alert_thresholds": row.get("alert_thresholds"),
    }
    if row["employee_id"]:
        return _employee_plan(row, context, allocated_employees, unused, settings)
    if row["team_id"]:
        has_pool = bool(row["team__has_pool"])
        split = (
            carryover_split(unused_micros=unused, rule=context.pool_rule(row["team_id"]))
            if has_pool
            else _split_all_forfeited(unused)
        )
        return OwnerPlan(
            owner_key=f"team:{row['team_id']}",
            kind="team",
            owner_id=row["team_id"],
            label=row["team__name"],
            group="Team pools",
            outcome=Outcome.POOL if has_pool else Outcome.POOL_CLOSED,
            source_budget_id=row["id"],
            unused_micros=split.unused_micros,
            carried_micros=split.carried_micros,
            forfeited_micros=split.forfeited_micros,
            has_target=has_pool,
            expiry_months=context.pool_rule(row["team_id"]).expiry_months if has_pool else 0,
            source_settings=settings,
        )
    ends_on = row["project__ends_on"]
    ended = ends_on is not None and ends_on < context.next_period.start
    rule = context.project_rule()
    split = (
        _split_all_forfeited(unused) if ended else carryover_split(unused_micros=unused, rule=rule)
    )
    return OwnerPlan(
        owner_key=f"project:{row['project_id']}",
        kind="project",
        owner_id=row["project_id"],
        label=row["project__code"],
        group="Projects",
        outcome=Outcome.PROJECT_ENDED if ended else Outcome.PROJECT_CONTINUES,
        source_budget_id=row["id"],
        unused_micros=split.unused_micros,
        carried_micros=split.carried_micros,
        forfeited_micros=split.forfeited_micros,
        has_target=not ended,
        expiry_months=0 if ended else rule.expiry_months,
        source_settings=settings,
    )


def _employee_plan(row, context, allocated_employees, unused, settings) -> OwnerPlan:
    employee_id = row["employee_id"]
    leaves = _employee_leaves(row, context.next_period.start)
    level_amount = 0
    if context.allocate_levels and not leaves:
        level_amount = prorate_micros(
            row["employee__level__default_annual_budget_micros"],
            start=row["employee__hire_date"],
            period=context.next_period,
        )
    already = employee_id in allocated_employees
    rule = context.personal_rule(
        level_id=row["employee__level_id"], team_id=row["employee__team_id"]
    )
    if leaves:
        split, outcome = _split_all_forfeited(unused), Outcome.LEFT
    else:
        split = carryover_split(
            unused_micros=unused, rule=rule, next_allocation_micros=level_amount
        )
        if row["id"] is None:
            outcome = Outcome.JOINED
        elif split.unused_micros == 0:
            outcome = Outcome.NOTHING_UNUSED
        else:
            outcome = Outcome.CARRIED
    return OwnerPlan(
        owner_key=f"employee:{employee_id}",
        kind="employee",
        owner_id=employee_id,
        label=row["employee__user__email"],
        group=f"Level {row['employee__level__name']}",
        outcome=outcome,
        source_budget_id=row["id"],
        unused_micros=split.unused_micros,
        carried_micros=split.carried_micros,
        forfeited_micros=split.forfeited_micros,
        allocation_micros=0 if already else level_amount,
        level_allocation_micros=level_amount,
        already_allocated=already and level_amount > 0,
        has_target=not leaves,
        expiry_months=rule.expiry_months,
        source_settings=settings,
    )


def _employee_row(row: dict) -> dict:
    """An employee without a budget in the closed year, shaped like a budget row."""
    shaped = {name: row[source] for name, source in EMPLOYEE_FIELDS.items()}
    shaped.update(
        id=None,
        team_id=None,
        project_id=None,
        allocated_micros=0,
        spent_micros=0,
        reserved_micros=0,
    )
    return shaped


def _allocated_employees(employee_ids: list[int], next_year: int) -> set[int]:
    """Employees whose level allocation of the new year is already posted (by HR, an accepted
    offer, or an earlier chunk): the idempotency key says so."""
    if not employee_ids:
        return set()
    keys = {
        level_allocation_key_for(employee_id, next_year): employee_id
        for employee_id in employee_ids
    }
    found = LedgerEntry.objects.filter(idempotency_key__in=list(keys)).values_list(
        "idempotency_key", flat=True
    )
    return {keys[key] for key in found}


def level_allocation_key_for(employee_id: int, fiscal_year: int) -> str:
    return level_allocation_key_for_id(employee_id=employee_id, fiscal_year=fiscal_year)


def _source_budgets(fiscal_year: int):
    return Budget.objects.filter(fiscal_year=fiscal_year)


def _employees_without_budget(context: RolloverContext):
    """Active employees (not leaving before the new year) with no budget in the closed year."""
    return (
        Employee.objects.filter(is_active=True)
        .exclude(left_on__lt=context.next_period.start)
        .exclude(
            Exists(Budget.objects.filter(employee=OuterRef("pk"), fiscal_year=context.fiscal_year))
        )
    )


def rollover_plans(context: RolloverContext, *, batch: int = PREVIEW_BATCH) -> Iterator[OwnerPlan]:
    """Every owner's plan, in a stable order (closed-year budgets by id, then employees without
    one by id), read in batches: 100,000 budgets never sit in memory at once."""
    after = 0
    while True:
        rows = list(
            _source_budgets(context.fiscal_year)
            .filter(pk__gt=after)
            .order_by("pk")
            .values(*SOURCE_FIELDS)[:batch]
        )
        if not rows:
            break
        after = rows[-1]["id"]
        allocated = _allocated_employees(
            [r["employee_id"] for r in rows if r["employee_id"]], context.fiscal_year + 1
        )
        for row in rows:
            yield owner_plan(row, context, allocated)
    after = 0
    while True:
        rows = [
            _employee_row(row)
            for row in _employees_without_budget(context)
            .filter(pk__gt=after)
            .order_by("pk")
            .values(*EMPLOYEE_FIELDS.values())[:batch]
        ]
        if not rows:
            break
        after = rows[-1]["employee_id"]
        allocated = _allocated_employees([r["employee_id"] for r in rows], context.fiscal_year + 1)
        for row in rows:
            yield owner_plan(row, context, allocated)


# -- preview -------------------------------------------------------------------------------------


@dataclass
class PreviewTotals:
    owners: int = 0
    unused_micros: Micros = 0
    carried_micros: Micros = 0
    forfeited_micros: Micros = 0
    allocated_micros: Micros = 0
    by_group: dict[str, list[int]] = field(default_factory=dict)

    def add(self, plan: OwnerPlan) -> None:
        self.owners += 1
        self.unused_micros += plan.unused_micros
        self.carried_micros += plan.carried_micros
        self.forfeited_micros += plan.forfeited_micros
        self.allocated_micros += plan.allocation_micros
        group = self.by_group.setdefault(plan.group, [0, 0, 0, 0, 0])
        for index, value in enumerate(
            (
                1,
                plan.unused_micros,
                plan.carried_micros,
                plan.forfeited_micros,
                plan.allocation_micros,
            )
        ):
            group[index] += value


def reference_rates(*, fiscal_year: int) -> tuple[Decimal, Decimal]:
    """The company's reference rate, and that rate moved by the price change between the first
    day of the closed year and the first day of the new one (for the closed year's token mix):
    when prices fall, the same dollars buy more tokens."""
    rate = company_settings().reference_rate_usd_per_token
    period = fiscal_year_period(fiscal_year)
    mix = (
        UsageEvent.objects.filter(
            occurred_at__date__gte=period.start, occurred_at__date__lt=period.end
        )
        .values("model_name")
        .annotate(
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cached=Sum("cached_input_tokens"),
        )
    )
    old_start = _day_start(period.start)
    new_start = _day_start(period.end)
    cost_old = cost_new = 0
    for row in mix:
        old = _price_at(row["model_name"], old_start)
        new = _price_at(row["model_name"], new_start)
        if old is None or new is None:
            continue
        cost_old += _mix_cost(row, old)
        cost_new += _mix_cost(row, new)
    return rate, rate_after_price_change(
        rate, cost_at_old_prices=cost_old, cost_at_new_prices=cost_new
    )


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _price_at(model_name: str, moment: datetime) -> TokenPrice | None:
    return (
        TokenPrice.objects.filter(model_name=model_name, effective_from__lte=moment)
        .order_by("-effective_from")
        .first()
    )


def _mix_cost(row: dict, price: TokenPrice) -> int:
    return (
        row["input_tokens"] * price.input_per_million_micros
        + row["output_tokens"] * price.output_per_million_micros
        + row["cached"] * price.cached_input_per_million_micros
    )


def rollover_preview(*, fiscal_year: int, acting_user: User | None) -> RolloverRun:
    """Compute (or refresh) the preview of closing `fiscal_year`: counts, totals per group and
    the reference rates, on the year's one RolloverRun. Nothing moves. Once committing has
    started the preview is what it was: the run's done totals tell what happened."""
    if not Budget.objects.filter(fiscal_year=fiscal_year).exists():
        raise AllotError(
            f"There are no budgets in FY{fiscal_year} to roll over.", field="fiscal_year"
        )
    run, _ = RolloverRun.objects.get_or_create(fiscal_year=fiscal_year)
    if run.state in (RolloverState.RUNNING, RolloverState.DONE) or run.owners_done:
        return run
    context = rollover_context(fiscal_year=fiscal_year)
    totals = PreviewTotals()
    for plan in rollover_plans(context):
        totals.add(plan)
    before, after = reference_rates(fiscal_year=fiscal_year)
    RolloverRun.objects.filter(pk=run.pk).update(
        previewed_at=timezone.now(),
        previewed_by=acting_user,
        owners_total=totals.owners,
        unused_micros=totals.unused_micros,
        carried_micros=totals.carried_micros,
        forfeited_micros=totals.forfeited_micros,
        allocated_micros=totals.allocated_micros,
        breakdown=dict(sorted(totals.by_group.items())),
        reference_rate_before=before,
        reference_rate_after=after,
    )
    run.refresh_from_db()
    logger.info(
        "rollover_preview: FY%s, %d owners, %s carried, %s forfeited, %s allocated",
        fiscal_year,
        totals.owners,
        format_usd(totals.carried_micros),
        format_usd(totals.forfeited_micros),
        format_usd(totals.allocated_micros),
    )
    return run


# -- confirm and commit --------------------------------------------------------------------------


def user_may_confirm_rollover(user) -> bool:
    from people.roles import FINANCE

    return bool(
        user
        and user.is_authenticated
        and (user.is_superuser or user.groups.filter(name=FINANCE).exists())
    )


@transaction.atomic
def rollover_confirm(
    *,
    run: RolloverRun,
    acting_user: User | None,
    enqueue: bool = True,
    chunk_size: int = CHUNK_SIZE,
) -> RolloverRun:
    """Finance confirms the preview: the run starts (or resumes after a failure, or after its
    worker died mid-run) as a Celery task. A user must be in Finance; no user means the system
    (automatic rollover, or the command line)."""
    if acting_user is not None and not user_may_confirm_rollover(acting_user):
        raise AllotError("Only finance can confirm a rollover.", code="forbidden")
    run = RolloverRun.objects.select_for_update().get(pk=run.pk)
    if run.state == RolloverState.DONE:
        raise AllotError(
            f"FY{run.fiscal_year} was already rolled over on {run.finished_at:%Y-%m-%d}; "
            "nothing to do.",
            code="already_done",
        )
    if run.state == RolloverState.RUNNING and not run.is_stalled(timezone.now()):
        raise AllotError(f"The FY{run.fiscal_year} rollover is already running.", code="running")
    if run.previewed_at is None:
        raise AllotError("Preview the rollover before confirming it.", code="not_previewed")
    run.state = RolloverState.RUNNING
    if run.confirmed_at is None:
        run.confirmed_at = timezone.now()
        run.confirmed_by = acting_user
    run.started_at = run.started_at or timezone.now()
    run.heartbeat_at = timezone.now()
    run.save(update_fields=["state", "confirmed_at", "confirmed_by", "started_at", "heartbeat_at"])
    if enqueue:
        rollover_enqueue(run=run, chunk_size=chunk_size)
    return run


def rollover_enqueue(*, run: RolloverRun, chunk_size: int = CHUNK_SIZE) -> None:
    """Send a running run to a worker (again). Harmless if one is already on it: owners done
    are skipped and a chunk another worker holds is skipped."""
    from budgets.tasks import rollover_commit

    transaction.on_commit(lambda: rollover_commit.delay(run.pk, chunk_size=chunk_size))


@dataclass
class RolloverResult:
    run: RolloverRun
    owners: int = 0
    chunks: int = 0
    already_done: bool = False
    finished: bool = False


def _next_budget_ids(run: RolloverRun, after: int, size: int) -> list[int]:
    """The next closed-year budgets this run has not done, locked; rows another runner holds
    are skipped (it is doing them)."""
    done = RolloverItem.objects.filter(run=run, source_budget_id=OuterRef("pk"))
    query = (
        _source_budgets(run.fiscal_year).filter(pk__gt=after).exclude(Exists(done)).order_by("pk")
    )
    if connection.vendor == "postgresql":
        query = query.select_for_update(skip_locked=True)
    return list(query.values_list("pk", flat=True)[:size])


def _next_employee_rows(run: RolloverRun, context, after: int, size: int) -> list[dict]:
    items = RolloverItem.objects.filter(run=run, employee_id=OuterRef("pk"))
    query = _employees_without_budget(context).filter(pk__gt=after).exclude(Exists(items))
    if connection.vendor == "postgresql":  # as for budgets: another runner's rows are skipped
        query = query.select_for_update(skip_locked=True, of=("self",))
    rows = query.order_by("pk").values(*EMPLOYEE_FIELDS.values())[:size]
    return [_employee_row(row) for row in rows]


def _target_budgets(plans: list[OwnerPlan], next_year: int) -> dict[str, int]:
    """The new year's budget id of each owner that has one, created if missing (with the closed
    year's enforcement and thresholds), locked in id order."""
    wanted = [plan for plan in plans if plan.has_target]
    if not wanted:
        return {}
    owners = defaultdict(set)
    for plan in wanted:
        owners[plan.kind].add(plan.owner_id)
    now = timezone.now()
    if connection.vendor == "postgresql":
        columns = [[] for _ in range(7)]
        for plan in wanted:
            settings = plan.source_settings
            for index, value in enumerate(
                (
                    plan.owner_id if plan.kind == "employee" else None,
                    plan.owner_id if plan.kind == "team" else None,
                    plan.owner_id if plan.kind == "project" else None,
                    settings.get("enforcement") or "soft",
                    settings.get("overdraft_percent") or Decimal(0),
                    None
                    if settings.get("alert_thresholds") is None
                    else json.dumps(settings["alert_thresholds"]),
                    now,
                )
            ):
                columns[index].append(value)
        table = Budget._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (employee_id, team_id, project_id, enforcement, "  # noqa: S608
                "overdraft_percent, alert_thresholds, created_at, fiscal_year, allocated_micros, "
                "spent_micros, reserved_micros, carried_over_micros) "
                "SELECT e, t, p, en, od, at::jsonb, ca, %s, 0, 0, 0, 0 FROM unnest("
                "%s::bigint[], %s::bigint[], %s::bigint[], %s::varchar[], %s::numeric[], "
                "%s::text[], %s::timestamptz[]) AS v(e, t, p, en, od, at, ca) "
                "ON CONFLICT DO NOTHING",
                [next_year, *columns],
            )
    else:
        Budget.objects.bulk_create(
            [
                Budget(
                    fiscal_year=next_year,
                    **{f"{plan.kind}_id": plan.owner_id},
                    **{k: v for k, v in plan.source_settings.items() if v is not None},
                )
                for plan in wanted
            ],
            ignore_conflicts=True,
        )
    condition = Q()
    for kind, ids in owners.items():
        condition |= Q(**{f"{kind}_id__in": ids})
    found = Budget.objects.filter(condition, fiscal_year=next_year).order_by("pk")
    if connection.vendor == "postgresql":
        found = found.select_for_update()
    by_key = {}
    for pk, employee_id, team_id, project_id in found.values_list(
        "pk", "employee_id", "team_id", "project_id"
    ):
        if employee_id:
            by_key[f"employee:{employee_id}"] = pk
        elif team_id:
            by_key[f"team:{team_id}"] = pk
        else:
            by_key[f"project:{project_id}"] = pk
    return by_key


def _memo(plan: OwnerPlan, kind: str, fiscal_year: int) -> str:
    unused = format_usd(plan.unused_micros)
    if kind == EntryKind.CARRYOVER_OUT:
        return f"FY{fiscal_year} close: {unused} unused, carried into FY{fiscal_year + 1}"
    if kind == EntryKind.CARRYOVER_IN:
        return f"Carried over from FY{fiscal_year} ({unused} unused)"
    if kind == EntryKind.FORFEITURE:
        return f"FY{fiscal_year} close: {unused} unused, {plan.outcome}"
    return f"FY{fiscal_year + 1} allocation from level {plan.group.removeprefix('Level ')}"


ENTRY_COLUMNS = [
    "budget_id",
    "kind",
    "amount_micros",
    "memo",
    "idempotency_key",
    "acting_user_id",
    "created_at",
    "rollover_run_id",
]


def _entries_and_moves(
    run: RolloverRun, plans: list[OwnerPlan], targets: dict[str, int], now: datetime
) -> tuple[list[tuple], dict[int, list]]:
    entries: list[tuple] = []
    # budget id -> [allocated delta, carried-in delta, expires on]
    moves: dict[int, list] = defaultdict(lambda: [0, 0, None])
    tail = (run.confirmed_by_id, now, run.pk)
    year = run.fiscal_year
    new_year_start = fiscal_year_period(year + 1).start
    for plan in plans:
        if plan.source_budget_id:
            for kind, amount in (
                (EntryKind.CARRYOVER_OUT, plan.carried_micros),
                (EntryKind.FORFEITURE, plan.forfeited_micros),
            ):
                if amount:
                    memo = _memo(plan, kind, year)
                    entries.append((plan.source_budget_id, kind, -amount, memo, None, *tail))
                    moves[plan.source_budget_id][0] -= amount
        target = targets.get(plan.owner_key)
        if target is None:
            continue
        if plan.carried_micros:
            memo = _memo(plan, EntryKind.CARRYOVER_IN, year)
            entries.append((target, EntryKind.CARRYOVER_IN, plan.carried_micros, memo, None, *tail))
            moves[target][0] += plan.carried_micros
            moves[target][1] += plan.carried_micros
            moves[target][2] = expiry_date(new_year_start, plan.expiry_months)
        if plan.allocation_micros:
            memo = _memo(plan, EntryKind.ALLOCATION, year)
            key = level_allocation_key_for(plan.owner_id, year + 1)
            entries.append((target, EntryKind.ALLOCATION, plan.allocation_micros, memo, key, *tail))
            moves[target][0] += plan.allocation_micros
    return entries, moves


def _copy_or_bulk_create(model, columns: list[str], rows: list[tuple]) -> None:
    """Append rows: COPY on PostgreSQL (constraints still checked: a duplicate raises
    IntegrityError), bulk_create elsewhere."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            [model(**dict(zip(columns, row, strict=True))) for row in rows], batch_size=1_000
        )
        return
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(
            f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
        ) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _apply_moves(moves: dict[int, list]) -> None:
    """Add each budget's deltas in one UPDATE: relative, so a concurrent writer's change to
    another column is never lost."""
    if not moves:
        return
    table = Budget._meta.db_table
    rows = sorted(moves.items())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS b SET "  # noqa: S608 - table name from the model
                "allocated_micros = b.allocated_micros + v.allocated, "
                "carried_over_micros = b.carried_over_micros + v.carried, "
                "carryover_expires_on = COALESCE(v.expires, b.carryover_expires_on) "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::date[]) "
                "AS v(id, allocated, carried, expires) WHERE b.id = v.id",
                [
                    [budget_id for budget_id, _ in rows],
                    [move[0] for _, move in rows],
                    [move[1] for _, move in rows],
                    [move[2] for _, move in rows],
                ],
            )
        return
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        values = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
        params = [
            value
            for budget_id, (allocated, carried, expires) in chunk
            for value in (budget_id, allocated, carried, expires)
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH v(id, allocated, carried, expires) AS (VALUES {values}) "  # noqa: S608
                f"UPDATE {table} SET "
                f"allocated_micros = {table}.allocated_micros + v.allocated, "
                f"carried_over_micros = {table}.carried_over_micros + v.carried, "
                f"carryover_expires_on = COALESCE(v.expires, {table}.carryover_expires_on) "
                f"FROM v WHERE {table}.id = v.id",
                params,
            )


ITEM_COLUMNS = [
    "run_id",
    "owner_key",
    "employee_id",
    "team_id",
    "project_id",
    "source_budget_id",
    "target_budget_id",
    "outcome",
    "unused_micros",
    "carried_micros",
    "forfeited_micros",
    "allocated_micros",
    "created_at",
]


def _items(run: RolloverRun, plans: list[OwnerPlan], targets: dict[str, int], now) -> list:
    return [
        (
            run.pk,
            plan.owner_key,
            plan.owner_id if plan.kind == "employee" else None,
            plan.owner_id if plan.kind == "team" else None,
            plan.owner_id if plan.kind == "project" else None,
            plan.source_budget_id,
            targets.get(plan.owner_key),
            plan.outcome,
            plan.unused_micros,
            plan.carried_micros,
            plan.forfeited_micros,
            plan.allocation_micros,
            now,
        )
        for plan in plans
    ]


def _rollover_chunk(
    run: RolloverRun, context: RolloverContext, cursor: list[int], size: int
) -> tuple[int, int]:
    """One chunk in one transaction. `cursor` is [last budget id, last employee id] and moves on;
    returns how many owners were done and how many candidates were looked at (0: none left)."""
    with transaction.atomic():
        budget_ids = _next_budget_ids(run, cursor[0], size)
        if budget_ids:
            cursor[0] = budget_ids[-1]
            rows = list(
                Budget.objects.filter(pk__in=budget_ids).order_by("pk").values(*SOURCE_FIELDS)
            )
        else:
            rows = _next_employee_rows(run, context, cursor[1], size)
            if not rows:
                return 0, 0
            cursor[1] = rows[-1]["employee_id"]
        found = len(rows)
        rows = _owners_not_done(run, rows)
        if not rows:
            return 0, found
        allocated = _allocated_employees(
            [row["employee_id"] for row in rows if row["employee_id"]], run.fiscal_year + 1
        )
        plans = [owner_plan(row, context, allocated) for row in rows]
        now = timezone.now()
        targets = _target_budgets(plans, run.fiscal_year + 1)
        # The claim: a unique row per (run, owner). A concurrent runner that got here first
        # makes this INSERT fail, and the whole chunk rolls back untouched.
        _copy_or_bulk_create(RolloverItem, ITEM_COLUMNS, _items(run, plans, targets, now))
        entries, moves = _entries_and_moves(run, plans, targets, now)
        _copy_or_bulk_create(LedgerEntry, ENTRY_COLUMNS, entries)
        _apply_moves(moves)
        _rollover_chunk_hook(run, plans)
        RolloverRun.objects.filter(pk=run.pk).update(
            owners_done=F("owners_done") + len(plans),
            done_unused_micros=F("done_unused_micros") + sum(p.unused_micros for p in plans),
            done_carried_micros=F("done_carried_micros") + sum(p.carried_micros for p in plans),
            done_forfeited_micros=F("done_forfeited_micros")
            + sum(p.forfeited_micros for p in plans),
            done_allocated_micros=F("done_allocated_micros")
            + sum(p.allocation_micros for p in plans),
            chunks_done=F("chunks_done") + 1,
            heartbeat_at=now,
        )
    return len(plans), found


def _owners_not_done(run: RolloverRun, rows: list[dict]) -> list[dict]:
    """Drop rows whose owner this run already did (e.g. a closed-year budget made by late usage
    after its owner was done without one): one lookup on the unique (run, owner) index."""
    keys = {_row_owner_key(row): row for row in rows}
    done = set(
        RolloverItem.objects.filter(run=run, owner_key__in=list(keys)).values_list(
            "owner_key", flat=True
        )
    )
    return [row for key, row in keys.items() if key not in done]


def _row_owner_key(row: dict) -> str:
    if row["employee_id"]:
        return f"employee:{row['employee_id']}"
    if row["team_id"]:
        return f"team:{row['team_id']}"
    return f"project:{row['project_id']}"


def _rollover_chunk_hook(run: RolloverRun, plans: list[OwnerPlan]) -> None:
    """Called inside each chunk's transaction after its writes; tests make it raise to show a
    crash mid-chunk leaves nothing behind."""


def rollover_execute(
    *,
    run: RolloverRun,
    chunk_size: int = CHUNK_SIZE,
    max_chunks: int | None = None,
    progress=None,
) -> RolloverResult:
    """Apply a confirmed run chunk by chunk until every owner has its item. Safe to call again
    at any time, from several workers at once: owners already done are skipped, a chunk another
    worker holds is skipped, and a run that is done says so and changes nothing.

    `max_chunks` stops early (the run stays running; calling again resumes)."""
    run = RolloverRun.objects.get(pk=run.pk)
    if run.state == RolloverState.DONE:
        return RolloverResult(run=run, already_done=True, finished=True)
    if run.state != RolloverState.RUNNING:
        raise AllotError(
            f"The FY{run.fiscal_year} rollover is {run.get_state_display().lower()}: "
            "finance confirms it first.",
            code="not_confirmed",
        )
    context = rollover_context(fiscal_year=run.fiscal_year)
    result = RolloverResult(run=run)
    cursor = [0, 0]
    done_this_pass = 0
    try:
        while max_chunks is None or result.chunks < max_chunks:
            done, found = _chunk_with_retries(run, context, cursor, chunk_size)
            if not found:
                if done_this_pass == 0:  # a whole pass from the start found nothing to do
                    _finish(run)
                    result.finished = True
                    break
                # One more pass from the start, for anything a crashed runner left behind.
                cursor[:] = [0, 0]
                done_this_pass = 0
                continue
            if done:
                done_this_pass += done
                result.owners += done
                result.chunks += 1
                if progress:
                    progress(result)
    except Exception as error:
        _fail(run, error)
        raise
    result.run = RolloverRun.objects.get(pk=run.pk)
    return result


def _chunk_with_retries(run, context, cursor, size) -> tuple[int, int]:
    for attempt in range(1, CHUNK_ATTEMPTS + 1):
        saved = list(cursor)
        try:
            return _rollover_chunk(run, context, cursor, size)
        except (IntegrityError, OperationalError) as error:
            # Another runner claimed one of these owners first (unique item), or a deadlock
            # with an ingest batch: nothing of this chunk was written; look again.
            if isinstance(error, OperationalError) and not _transient(error):
                raise
            cursor[:] = saved
            logger.warning("rollover chunk retried (%s/%s): %s", attempt, CHUNK_ATTEMPTS, error)
            if attempt == CHUNK_ATTEMPTS:
                raise
    return 0, 0


def _transient(error: OperationalError) -> bool:
    text = str(error).lower()
    return "deadlock" in text or "locked" in text or "could not serialize" in text


def _finish(run: RolloverRun) -> None:
    finished = RolloverRun.objects.filter(pk=run.pk, state=RolloverState.RUNNING).update(
        state=RolloverState.DONE, finished_at=timezone.now()
    )
    if finished:
        run.refresh_from_db()
        logger.info(
            "rollover: FY%s done, %d owners, %s carried, %s forfeited, %s allocated",
            run.fiscal_year,
            run.owners_done,
            format_usd(run.done_carried_micros),
            format_usd(run.done_forfeited_micros),
            format_usd(run.done_allocated_micros),
        )


def _fail(run: RolloverRun, error: Exception) -> None:
    run = RolloverRun.objects.get(pk=run.pk)
    if run.state == RolloverState.DONE:
        return
    run.errors = [
        *run.errors[-19:],
        {"at": timezone.now().isoformat(), "error": f"{type(error).__name__}: {error}"[:1000]},
    ]
    run.state = RolloverState.FAILED
    run.save(update_fields=["errors", "state"])
    logger.error(
        "rollover: FY%s failed after %d owners: %s", run.fiscal_year, run.owners_done, error
    )


# -- expiry of carried-over money ----------------------------------------------------------------


def carryover_expire_due(*, today: date) -> tuple[int, Micros]:
    """Expire the unspent carried-over money of every budget whose expiry date has come: what
    is left of it is max(0, carried - spent before the expiry date) (spending draws carried
    money first). One expiry entry per budget, once (a key and the expired-on date say so)."""
    from budgets.models import DailySpend

    due = list(
        Budget.objects.filter(
            carryover_expires_on__lte=today,
            carryover_expired_on__isnull=True,
            carried_over_micros__gt=0,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    expired_budgets = expired_total = 0
    for start in range(0, len(due), CHUNK_SIZE):
        with transaction.atomic():
            budgets = Budget.objects.filter(
                pk__in=due[start : start + CHUNK_SIZE], carryover_expired_on__isnull=True
            ).order_by("pk")
            if connection.vendor == "postgresql":
                budgets = budgets.select_for_update()
            budgets = list(budgets)
            runs = {
                run.fiscal_year: run
                for run in RolloverRun.objects.filter(
                    fiscal_year__in={b.fiscal_year - 1 for b in budgets}
                )
            }
            for budget in budgets:
                period = fiscal_year_period(budget.fiscal_year)
                spent_before = (
                    DailySpend.objects.filter(
                        budget=budget, day__gte=period.start, day__lt=budget.carryover_expires_on
                    ).aggregate(total=Sum("spent_micros"))["total"]
                    or 0
                )
                from budgets.carryover import carryover_expiry

                amount = carryover_expiry(
                    carried_micros=budget.carried_over_micros,
                    spent_before_expiry_micros=spent_before,
                )
                if amount:
                    run = runs.get(budget.fiscal_year - 1)
                    LedgerEntry.objects.create(
                        budget=budget,
                        kind=EntryKind.EXPIRY,
                        amount_micros=-amount,
                        memo=(
                            f"Carried-over money unspent on {budget.carryover_expires_on}: "
                            f"{format_usd(amount)} of {format_usd(budget.carried_over_micros)}"
                        ),
                        idempotency_key=f"carryover-expiry:budget:{budget.pk}",
                        rollover_run=run,
                    )
                    expired_budgets += 1
                    expired_total += amount
                Budget.objects.filter(pk=budget.pk).update(
                    allocated_micros=F("allocated_micros") - amount, carryover_expired_on=today
                )
    return expired_budgets, expired_total


# -- the scheduled start -------------------------------------------------------------------------


def rollover_scheduled_step(*, today: date | None = None) -> str:
    """What the daily beat entry does: preview the year just closed once it has ended, notify
    finance, and commit only if the company rolls over automatically. Idempotent: a run that
    exists is not previewed again, a done one is left alone."""
    from people.selectors import company_today, fiscal_year_of

    today = today or company_today()
    closed_year = fiscal_year_of(today) - 1
    run = RolloverRun.objects.filter(fiscal_year=closed_year).first()
    if run is not None and run.state == RolloverState.DONE:
        return f"FY{closed_year} already rolled over; nothing to do"
    if run is not None and run.is_stalled(timezone.now()):
        rollover_enqueue(run=run)  # its worker died mid-run: pick up where it stopped
        return f"FY{closed_year} rollover had stalled at {run.owners_done:,} owners; resumed"
    if run is not None and run.state in (RolloverState.RUNNING, RolloverState.FAILED):
        return f"FY{closed_year} rollover is {run.state}; left to finance"
    if run is None:
        if not Budget.objects.filter(fiscal_year=closed_year).exists():
            return f"no budgets in FY{closed_year}; nothing to roll over"
        run = rollover_preview(fiscal_year=closed_year, acting_user=None)
        _notify_finance(run)
    if company_settings().rollover_automatic:
        rollover_confirm(run=run, acting_user=None)
        return f"FY{closed_year} previewed and committed automatically"
    return f"FY{closed_year} previewed; waiting for finance to confirm"


def _notify_finance(run: RolloverRun) -> None:
    from django.contrib.auth import get_user_model

    from budgets.models import Notification
    from budgets.tasks import notification_email_send
    from people.roles import FINANCE

    message = (
        f"The FY{run.fiscal_year} rollover is previewed: {run.owners_total:,} owners, "
        f"{format_usd(run.carried_micros)} to carry over, {format_usd(run.forfeited_micros)} "
        f"forfeited, {format_usd(run.allocated_micros)} of new allocations. "
        "Confirm it in the admin (Rollover runs)."
    )
    users = get_user_model().objects.filter(groups__name=FINANCE, is_active=True).distinct()
    for user in users:
        note = Notification.objects.create(user=user, message=message[:300])
        transaction.on_commit(lambda pk=note.pk: notification_email_send.delay(pk), robust=True)


# -- the preview as rows (CSV and the page) ------------------------------------------------------

PREVIEW_CSV_HEADER = [
    "owner_kind",
    "owner",
    "group",
    "outcome",
    "unused_usd",
    "carried_usd",
    "forfeited_usd",
    "new_allocation_usd",
    "new_year_total_usd",
    "tokens_at_last_years_rate",
    "tokens_at_new_rate",
]


def plan_csv_row(plan: OwnerPlan, run: RolloverRun) -> list[str]:
    from budgets.calculations import tokens_at_rate
    from common.money import micros_to_dollars

    before = run.reference_rate_before or company_settings().reference_rate_usd_per_token
    after = run.reference_rate_after or before
    return [
        plan.kind,
        plan.label,
        plan.group,
        plan.outcome + (" (allocation already posted)" if plan.already_allocated else ""),
        *(
            str(micros_to_dollars(value))
            for value in (
                plan.unused_micros,
                plan.carried_micros,
                plan.forfeited_micros,
                plan.allocation_micros,
                plan.new_year_micros,
            )
        ),
        str(tokens_at_rate(plan.new_year_micros, before)),
        str(tokens_at_rate(plan.new_year_micros, after)),
    ]


def rollover_preview_rows(run: RolloverRun) -> Iterator[list[str]]:
    """The preview, owner by owner, as CSV rows (header first); computed as it is read."""
    yield PREVIEW_CSV_HEADER
    context = rollover_context(fiscal_year=run.fiscal_year)
    for plan in rollover_plans(context):
        yield plan_csv_row(plan, run)
