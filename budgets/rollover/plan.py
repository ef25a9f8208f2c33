"""The rollover's plans: for every owner of a budget in the closed year, and every active
employee without one, what is unused, what carries over, what is forfeited and what the new year
allocates (from the level, after promotions; nothing for leavers). The preview sums the plans
without writing; the commit (budgets.rollover.commit) applies the same plans. Nothing here reads
the database: budgets.rollover.preview reads the rows and the context."""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from budgets.calculations import prorate_between_micros, prorate_micros, tokens_at_rate
from budgets.carryover import (
    RUNNING_PROJECT_RULE,
    TEAM_POOL_RULE,
    CarryoverRule,
    CarryoverSplit,
    RuleOverride,
    carryover_split,
    rule_resolve,
)
from budgets.ledger.keys import owner_key
from budgets.models import Budget, CarryoverPolicy, OwnerKind
from budgets.rollover.indexing import indexed_micros
from common.fiscal import Period
from common.money import Micros, micros_to_dollars

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
    "team__pool_annual_micros",
    "project__code",
    "project__starts_on",
    "project__ends_on",
    "project__annual_micros",
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
    allocation_factor: Decimal = Decimal(1)  # price indexing of the allocations from levels
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
    level_dollars_micros: Micros = 0  # the same before the run's indexing factor
    already_allocated: bool = False
    has_target: bool = True
    expiry_months: int = 0
    source_settings: dict = field(default_factory=dict)

    @property
    def new_year_micros(self) -> Micros:
        return self.carried_micros + self.allocation_micros


def override_of(policy: CarryoverPolicy) -> RuleOverride:
    return RuleOverride(
        share_percent=policy.share_percent,
        cap_micros=policy.cap_micros,
        cap_percent_of_allocation=policy.cap_percent_of_allocation,
        expiry_months=policy.expiry_months,
    )


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
            allocation_micros=(row["team__pool_annual_micros"] or 0) if has_pool else 0,
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
        allocation_micros=0
        if ended
        else prorate_between_micros(
            row["project__annual_micros"] or 0,
            start=row["project__starts_on"],
            end=ends_on,
            period=context.next_period,
        ),
        has_target=not ended,
        expiry_months=0 if ended else rule.expiry_months,
        source_settings=settings,
    )


def _employee_plan(row, context, allocated_employees, unused, settings) -> OwnerPlan:
    employee_id = row["employee_id"]
    leaves = _employee_leaves(row, context.next_period.start)
    level_dollars = 0
    if context.allocate_levels and not leaves:
        agreed = row["employee__annual_budget_micros"]  # from the accepted offer, or HR
        level_dollars = prorate_micros(
            agreed if agreed is not None else row["employee__level__default_annual_budget_micros"],
            start=row["employee__hire_date"],
            period=context.next_period,
        )
    level_amount = indexed_micros(level_dollars, context.allocation_factor)
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
        level_dollars_micros=level_dollars,
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


# -- preview -------------------------------------------------------------------------------------


class GroupTotals(NamedTuple):
    """One group's line of the preview (stored in RolloverRun.breakdown as a JSON list, in this
    order)."""

    owners: int = 0
    unused_micros: Micros = 0
    carried_micros: Micros = 0
    forfeited_micros: Micros = 0
    allocated_micros: Micros = 0

    def plus(self, plan: OwnerPlan) -> "GroupTotals":
        return GroupTotals(
            self.owners + 1,
            self.unused_micros + plan.unused_micros,
            self.carried_micros + plan.carried_micros,
            self.forfeited_micros + plan.forfeited_micros,
            self.allocated_micros + plan.allocation_micros,
        )


@dataclass
class PreviewTotals:
    whole: GroupTotals = GroupTotals()
    by_group: dict[str, GroupTotals] = field(default_factory=dict)

    def add(self, plan: OwnerPlan) -> None:
        self.whole = self.whole.plus(plan)
        self.by_group[plan.group] = self.by_group.get(plan.group, GroupTotals()).plus(plan)


# -- the preview as rows (CSV and the page) ------------------------------------------------------

PREVIEW_CSV_HEADER = [
    "owner_kind",
    "owner",
    "group",
    "outcome",
    "unused_usd",
    "carried_usd",
    "forfeited_usd",
    "level_dollars_usd",
    "new_allocation_usd",
    "new_year_total_usd",
    "tokens_at_last_years_rate",
    "tokens_at_new_rate",
]


def plan_csv_row(plan: OwnerPlan, *, rate_before: Decimal, rate_after: Decimal) -> list[object]:
    """One owner's line of the preview: names as they are, dollars as Decimals, tokens as ints
    (rollover_preview_rows makes each cell formula-safe)."""
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
                plan.level_dollars_micros,
                plan.allocation_micros,
                plan.new_year_micros,
            )
        ),
        tokens_at_rate(plan.new_year_micros, rate_before),
        tokens_at_rate(plan.new_year_micros, rate_after),
    ]
