"""The rollover's plans: for every owner of a budget in the closed year, and every active
employee without one, what is unused, what carries over, what is forfeited and what the new year
allocates (from the level, after promotions; nothing for leavers). The preview sums the plans
without writing; the commit (budgets.rollover.commit) applies the same plans."""

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone

from budgets.calculations import prorate_micros, tokens_at_rate
from budgets.carryover import (
    RUNNING_PROJECT_RULE,
    TEAM_POOL_RULE,
    CarryoverRule,
    CarryoverSplit,
    RuleOverride,
    carryover_split,
    rate_after_price_change,
    rule_resolve,
)
from budgets.ledger.keys import level_allocation_key, owner_key
from budgets.models import (
    Budget,
    CarryoverAppliesTo,
    CarryoverPolicy,
    LedgerEntry,
    OwnerKind,
    RolloverRun,
    RolloverState,
    TokenPrice,
    UsageEvent,
)
from common.csvsafe import spreadsheet_row
from common.errors import AllotError
from common.fiscal import Period
from common.money import Micros, format_usd, micros_to_dollars
from people.models import AllocationModel, Employee
from people.selectors import company_settings, fiscal_year_period

logger = logging.getLogger(__name__)
User = AbstractBaseUser

CHUNK_SIZE = 500
PREVIEW_BATCH = 5_000


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
    *Budget.RULES,  # the new year's budget starts from them
    "employee__user__email",
    "employee__level_id",
    "employee__level__name",
    "employee__level__default_annual_budget_micros",
    "employee__annual_budget_micros",
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
    "employee__annual_budget_micros": "annual_budget_micros",
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
    settings = {name: row.get(name) for name in Budget.RULES}
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
            owner_key=owner_key(OwnerKind.TEAM, row["team_id"]),
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
        owner_key=owner_key(OwnerKind.PROJECT, row["project_id"]),
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
        agreed = row["employee__annual_budget_micros"]  # from the accepted offer, or HR
        level_amount = prorate_micros(
            agreed if agreed is not None else row["employee__level__default_annual_budget_micros"],
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
        owner_key=owner_key(OwnerKind.EMPLOYEE, employee_id),
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


def employee_row(row: dict) -> dict:
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


def allocated_employees(employee_ids: list[int], next_year: int) -> set[int]:
    """Employees whose level allocation of the new year is already posted (by HR, an accepted
    offer, or an earlier chunk): the idempotency key says so."""
    if not employee_ids:
        return set()
    by_key = {
        level_allocation_key(employee_id=employee_id, fiscal_year=next_year): employee_id
        for employee_id in employee_ids
    }
    found = LedgerEntry.objects.filter(idempotency_key__in=list(by_key)).values_list(
        "idempotency_key", flat=True
    )
    return {by_key[key] for key in found}


def source_budgets(fiscal_year: int):
    return Budget.objects.filter(fiscal_year=fiscal_year)


def employees_without_budget(context: RolloverContext):
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
            source_budgets(context.fiscal_year)
            .filter(pk__gt=after)
            .order_by("pk")
            .values(*SOURCE_FIELDS)[:batch]
        )
        if not rows:
            break
        after = rows[-1]["id"]
        allocated = allocated_employees(
            [r["employee_id"] for r in rows if r["employee_id"]], context.fiscal_year + 1
        )
        for row in rows:
            yield owner_plan(row, context, allocated)
    after = 0
    while True:
        rows = [
            employee_row(row)
            for row in employees_without_budget(context)
            .filter(pk__gt=after)
            .order_by("pk")
            .values(*EMPLOYEE_FIELDS.values())[:batch]
        ]
        if not rows:
            break
        after = rows[-1]["employee_id"]
        allocated = allocated_employees([r["employee_id"] for r in rows], context.fiscal_year + 1)
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


def plan_csv_row(plan: OwnerPlan, run: RolloverRun) -> list[object]:
    """One owner's line of the preview: names as they are, dollars as Decimals, tokens as ints
    (rollover_preview_rows makes each cell formula-safe)."""
    before = run.reference_rate_before or company_settings().reference_rate_usd_per_token
    after = run.reference_rate_after or before
    return [
        plan.kind,
        plan.label,
        plan.group,
        plan.outcome + (" (allocation already posted)" if plan.already_allocated else ""),
        *(
            micros_to_dollars(value)
            for value in (
                plan.unused_micros,
                plan.carried_micros,
                plan.forfeited_micros,
                plan.allocation_micros,
                plan.new_year_micros,
            )
        ),
        tokens_at_rate(plan.new_year_micros, before),
        tokens_at_rate(plan.new_year_micros, after),
    ]


def rollover_preview_rows(run: RolloverRun) -> Iterator[list[object]]:
    """The preview, owner by owner, as formula-safe CSV rows (header first); computed as it is
    read."""
    yield spreadsheet_row(PREVIEW_CSV_HEADER)
    context = rollover_context(fiscal_year=run.fiscal_year)
    for plan in rollover_plans(context):
        yield spreadsheet_row(plan_csv_row(plan, run))
