"""The rollover's reads: the context of a run (company rule, policies), the closed year's
budgets and the employees without one, in batches, turned into plans by budgets.rollover.plan;
the preview that sums them, and the reference rates before and after the year's price change."""

import logging
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone

from budgets.calculations import cache_write_quarter_rates
from budgets.carryover import CarryoverRule, rate_after_price_change
from budgets.ledger.keys import level_allocation_key
from budgets.models import (
    Budget,
    CarryoverAppliesTo,
    CarryoverPolicy,
    LedgerEntry,
    RolloverRun,
    RolloverState,
    TokenPrice,
    UsageEvent,
)
from budgets.rollover.indexing import rollover_indexing
from budgets.rollover.plan import (
    EMPLOYEE_FIELDS,
    PREVIEW_BATCH,
    PREVIEW_CSV_HEADER,
    SOURCE_FIELDS,
    OwnerPlan,
    PreviewTotals,
    RolloverContext,
    employee_row,
    override_of,
    owner_plan,
    plan_csv_row,
)
from common.csvsafe import spreadsheet_row
from common.errors import AllotError
from common.money import format_usd
from people.models import AllocationModel, Employee
from people.selectors import company_settings, fiscal_year_period

logger = logging.getLogger(__name__)
User = AbstractBaseUser


def rollover_context(
    *, fiscal_year: int, allocation_factor: Decimal | None = None
) -> RolloverContext:
    """What every plan of closing `fiscal_year` shares. `allocation_factor` is the run's price
    indexing of the allocations from levels (None: 1, the level's dollars)."""
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
        allocation_factor=allocation_factor if allocation_factor is not None else Decimal(1),
    )
    for policy in CarryoverPolicy.objects.all():
        override = override_of(policy)
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


def run_context(run: RolloverRun) -> RolloverContext:
    """The context of a previewed run, with the indexing factor its preview fixed: the page, the
    CSV and the commit (first try or resumed) all plan with it."""
    return rollover_context(fiscal_year=run.fiscal_year, allocation_factor=run.indexing_factor)


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
            cache_writes=Sum("cache_write_tokens"),
            cache_writes_1h=Sum("cache_write_1h_tokens"),
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
    """The mix's cost at a price in quarter-micros, unrounded (only the ratio of two is used;
    quarters because a cache write's default rate is 1.25 or 2 times input)."""
    five_minutes, one_hour = cache_write_quarter_rates(price)
    return (
        4 * row["input_tokens"] * price.input_per_million_micros
        + 4 * row["output_tokens"] * price.output_per_million_micros
        + 4 * row["cached"] * price.cached_input_per_million_micros
        + (row["cache_writes"] or 0) * five_minutes
        + (row["cache_writes_1h"] or 0) * one_hour
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
    indexing = rollover_indexing(fiscal_year=fiscal_year)
    context = rollover_context(fiscal_year=fiscal_year, allocation_factor=indexing.factor)
    totals = PreviewTotals()
    for plan in rollover_plans(context):
        totals.add(plan)
    whole = totals.whole
    before, after = reference_rates(fiscal_year=fiscal_year)
    RolloverRun.objects.filter(pk=run.pk).update(
        previewed_at=timezone.now(),
        previewed_by=acting_user,
        owners_total=whole.owners,
        unused_micros=whole.unused_micros,
        carried_micros=whole.carried_micros,
        forfeited_micros=whole.forfeited_micros,
        allocated_micros=whole.allocated_micros,
        breakdown=dict(sorted(totals.by_group.items())),
        reference_rate_before=before,
        reference_rate_after=after,
        indexing_policy=indexing.policy,
        indexing_factor=indexing.factor,
        effective_rate_closing=indexing.closing_per_million,
        effective_rate_new=indexing.new_per_million,
        indexing_note=indexing.note,
    )
    run.refresh_from_db()
    logger.info(
        "rollover_preview: FY%s, %d owners, %s carried, %s forfeited, %s allocated, factor %s",
        fiscal_year,
        whole.owners,
        format_usd(whole.carried_micros),
        format_usd(whole.forfeited_micros),
        format_usd(whole.allocated_micros),
        indexing.factor,
    )
    return run


def rollover_preview_rows(run: RolloverRun) -> Iterator[list[object]]:
    """The preview, owner by owner, as formula-safe CSV rows (header first); computed as it is
    read."""
    yield spreadsheet_row(PREVIEW_CSV_HEADER)
    before = run.reference_rate_before or company_settings().reference_rate_usd_per_token
    after = run.reference_rate_after or before
    for plan in rollover_plans(run_context(run)):
        yield spreadsheet_row(plan_csv_row(plan, rate_before=before, rate_after=after))
