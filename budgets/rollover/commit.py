"""Committing a rollover: in chunks, each one transaction that locks its budgets, writes one
RolloverItem per owner (unique per run and owner: a second application is impossible, not just
unlikely), the ledger entries and the budgets' totals. A killed worker loses only its open chunk;
running again picks up the owners without an item, and two runners never do an owner twice."""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from budgets.carryover import expiry_date
from budgets.ledger import (
    EntryRow,
    Owner,
    TotalsMove,
    budgets_open,
    copy_rows,
    entries_copy,
    totals_add,
)
from budgets.ledger.keys import level_allocation_key, owner_key_of_row, standing_allocation_key
from budgets.models import (
    Budget,
    EntryKind,
    RolloverItem,
    RolloverRun,
    RolloverState,
)
from budgets.rollover.holds import reservations_release_expired
from budgets.rollover.messages import rollover_done_tell
from budgets.rollover.plan import (
    CHUNK_SIZE,
    EMPLOYEE_FIELDS,
    SOURCE_FIELDS,
    OwnerPlan,
    RolloverContext,
    employee_row,
    owner_plan,
)
from budgets.rollover.preview import (
    allocated_employees,
    employees_without_budget,
    run_context,
    source_budgets,
)
from common.db import is_wait_timeout, on_fresh_connection, waits_bounded
from common.errors import AllotError
from common.money import format_usd
from outbox.services import Job, outbox_enqueue
from people.roles import FINANCE, has_role
from people.selectors import company_today, fiscal_year_period

logger = logging.getLogger(__name__)
User = AbstractBaseUser
CHUNK_ATTEMPTS = 10


# -- confirm and commit --------------------------------------------------------------------------


def user_may_confirm_rollover(user) -> bool:
    return has_role(user, FINANCE)


def rollover_year_open_error(fiscal_year: int, *, today: date | None = None) -> str:
    """Why `fiscal_year` may not be committed yet (empty when it has ended). A year still
    running can be previewed, but closing it would forfeit money people are still spending."""
    end = fiscal_year_period(fiscal_year).end  # half-open: the first day of the next year
    today = today or company_today()
    if today < end:
        last = end - timedelta(days=1)
        return (
            f"FY{fiscal_year} has not ended (its last day is {last:%Y-%m-%d}): it can be "
            "previewed, and rolled over from its end."
        )
    return ""


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
    outbox_enqueue(
        [Job("budgets.rollover_commit", args=[run.pk], kwargs={"chunk_size": chunk_size})]
    )


@dataclass(slots=True)
class ChunkCursor:
    """Where the run is: the last closed-year budget and the last budget-less employee done."""

    budget_id: int = 0
    employee_id: int = 0


@dataclass
class RolloverResult:
    run: RolloverRun
    owners: int = 0
    chunks: int = 0
    already_done: bool = False
    finished: bool = False


def _next_budget_ids(run: RolloverRun, after: int, size: int, *, wait: bool) -> list[int]:
    """The next closed-year budgets this run has not done, locked. Rows another transaction
    holds are skipped (another runner is doing them, or usage is being written on them), unless
    `wait`: the last pass waits for them, so none is left open."""
    done = RolloverItem.objects.filter(run=run, source_budget_id=OuterRef("pk"))
    query = (
        source_budgets(run.fiscal_year).filter(pk__gt=after).exclude(Exists(done)).order_by("pk")
    )
    if connection.vendor == "postgresql":
        query = query.select_for_update(skip_locked=not wait)
    return list(query.values_list("pk", flat=True)[:size])


def _next_employee_rows(
    run: RolloverRun, context, after: int, size: int, *, wait: bool
) -> list[dict]:
    items = RolloverItem.objects.filter(run=run, employee_id=OuterRef("pk"))
    query = employees_without_budget(context).filter(pk__gt=after).exclude(Exists(items))
    if connection.vendor == "postgresql":  # as for budgets: held rows are skipped, or waited for
        query = query.select_for_update(skip_locked=not wait, of=("self",))
    rows = query.order_by("pk").values(*EMPLOYEE_FIELDS.values())[:size]
    return [employee_row(row) for row in rows]


def _target_budgets(plans: list[OwnerPlan], next_year: int) -> dict[str, int]:
    """The new year's budget id of each owner that has one, created if missing (with the closed
    year's enforcement and thresholds), locked in id order."""
    wanted = [plan for plan in plans if plan.has_target]
    if not wanted:
        return {}
    owners = defaultdict(set)
    for plan in wanted:
        owners[plan.kind].add(plan.owner_id)
    budgets_open(
        fiscal_year=next_year,
        owners=[Owner(plan.kind, plan.owner_id) for plan in wanted],
        rules={plan.owner_key: plan.source_settings for plan in wanted},
    )
    condition = Q()
    for kind, ids in owners.items():
        condition |= Q(**{f"{kind}_id__in": ids})
    found = Budget.objects.filter(condition, fiscal_year=next_year).order_by("pk")
    if connection.vendor == "postgresql":
        found = found.select_for_update()
    return {
        owner_key_of_row(row): row["pk"]
        for row in found.values("pk", "employee_id", "team_id", "project_id")
    }


def _memo(plan: OwnerPlan, kind: str, fiscal_year: int) -> str:
    unused = format_usd(plan.unused_micros)
    if kind == EntryKind.CARRYOVER_OUT:
        return f"FY{fiscal_year} close: {unused} unused, carried into FY{fiscal_year + 1}"
    if kind == EntryKind.CARRYOVER_IN:
        return f"Carried over from FY{fiscal_year} ({unused} unused)"
    if kind == EntryKind.FORFEITURE:
        return f"FY{fiscal_year} close: {unused} unused, {plan.outcome}"
    if plan.kind != "employee":
        return f"FY{fiscal_year + 1} standing annual amount of {plan.kind} {plan.label}"
    memo = f"FY{fiscal_year + 1} allocation from level {plan.group.removeprefix('Level ')}"
    if plan.level_allocation_micros != plan.level_dollars_micros:
        memo += f" (the level's {format_usd(plan.level_dollars_micros)} indexed to token prices)"
    return memo


def _entries_and_moves(
    run: RolloverRun, plans: list[OwnerPlan], targets: dict[str, int], now: datetime
) -> tuple[list[EntryRow], dict[int, TotalsMove]]:
    entries: list[EntryRow] = []
    moves: dict[int, TotalsMove] = defaultdict(TotalsMove)
    done_by = {"acting_user_id": run.confirmed_by_id, "rollover_run_id": run.pk}
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
                    entries.append(
                        EntryRow(plan.source_budget_id, kind, -amount, memo, now, **done_by)
                    )
                    moves[plan.source_budget_id].allocated_micros -= amount
        target = targets.get(plan.owner_key)
        if target is None:
            continue
        if plan.carried_micros:
            memo = _memo(plan, EntryKind.CARRYOVER_IN, year)
            entries.append(
                EntryRow(target, EntryKind.CARRYOVER_IN, plan.carried_micros, memo, now, **done_by)
            )
            move = moves[target]
            move.allocated_micros += plan.carried_micros
            move.carried_over_micros += plan.carried_micros
            move.carryover_expires_on = expiry_date(new_year_start, plan.expiry_months)
        if plan.allocation_micros:
            memo = _memo(plan, EntryKind.ALLOCATION, year)
            key = (
                level_allocation_key(employee_id=plan.owner_id, fiscal_year=year + 1)
                if plan.kind == "employee"
                else standing_allocation_key(owner_key=plan.owner_key, fiscal_year=year + 1)
            )
            entries.append(
                EntryRow(
                    target, EntryKind.ALLOCATION, plan.allocation_micros, memo, now, key, **done_by
                )
            )
            moves[target].allocated_micros += plan.allocation_micros
    return entries, moves


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
    "level_dollars_micros",
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
            plan.level_dollars_micros if plan.allocation_micros else 0,
            now,
        )
        for plan in plans
    ]


def _rollover_chunk(
    run: RolloverRun, context: RolloverContext, cursor: ChunkCursor, size: int, *, wait: bool
) -> tuple[int, int]:
    """One chunk in one transaction. `cursor` moves on;
    returns how many owners were done and how many candidates were looked at (0: none left).
    `wait`: wait for rows other transactions hold instead of skipping them."""
    with (
        transaction.atomic(),
        # longer than a request's: a chunk writes thousands of rows, and a stuck lock fails the
        # chunk (the run resumes) instead of holding the rollover for as long as it likes
        waits_bounded(
            lock_ms=settings.ALLOT_ROLLOVER_LOCK_TIMEOUT_MS,
            statement_ms=settings.ALLOT_ROLLOVER_STATEMENT_TIMEOUT_MS,
        ),
    ):
        budget_ids = _next_budget_ids(run, cursor.budget_id, size, wait=wait)
        if budget_ids:
            cursor.budget_id = budget_ids[-1]
            rows = list(
                Budget.objects.filter(pk__in=budget_ids).order_by("pk").values(*SOURCE_FIELDS)
            )
        else:
            rows = _next_employee_rows(run, context, cursor.employee_id, size, wait=wait)
            if not rows:
                return 0, 0
            cursor.employee_id = rows[-1]["employee_id"]
        found = len(rows)
        rows = _owners_not_done(run, rows)
        if not rows:
            return 0, found
        allocated = allocated_employees(
            [row["employee_id"] for row in rows if row["employee_id"]], run.fiscal_year + 1
        )
        plans = [owner_plan(row, context, allocated) for row in rows]
        now = timezone.now()
        targets = _target_budgets(plans, run.fiscal_year + 1)
        # The claim: a unique row per (run, owner). A concurrent runner that got here first
        # makes this INSERT fail, and the whole chunk rolls back untouched.
        copy_rows(RolloverItem, ITEM_COLUMNS, _items(run, plans, targets, now))
        entries, moves = _entries_and_moves(run, plans, targets, now)
        entries_copy(entries)
        totals_add(moves)
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
    keys = {owner_key_of_row(row): row for row in rows}
    done = set(
        RolloverItem.objects.filter(run=run, owner_key__in=list(keys)).values_list(
            "owner_key", flat=True
        )
    )
    return [row for key, row in keys.items() if key not in done]


def rollover_execute(
    *,
    run: RolloverRun,
    chunk_size: int = CHUNK_SIZE,
    max_chunks: int | None = None,
    progress=None,
) -> RolloverResult:
    """Apply a confirmed run chunk by chunk until every owner has its item. Safe to call again
    at any time, from several workers at once: owners already done are skipped, a chunk another
    worker holds is skipped, and a run that is done says so and changes nothing. Holds past
    their time are given back first, as the beat would have: the close splits only what calls
    still in flight hold.

    `max_chunks` stops early (the run stays running; calling again resumes)."""
    run = RolloverRun.objects.get(pk=run.pk)
    if run.state == RolloverState.DONE:
        return RolloverResult(run=run, already_done=True, finished=True)
    if run.state == RolloverState.INTERRUPTED:  # the sweep queued it again: resume
        RolloverRun.objects.filter(pk=run.pk, state=RolloverState.INTERRUPTED).update(
            state=RolloverState.RUNNING, heartbeat_at=timezone.now()
        )
        run.refresh_from_db()
    if run.state != RolloverState.RUNNING:
        raise AllotError(
            f"The FY{run.fiscal_year} rollover is {run.get_state_display().lower()}: "
            "finance confirms it first.",
            code="not_confirmed",
        )
    # Holds past their time first (the beat's job, which may not have run over the year's end):
    # their money is the closed year's unused, split by the rule, not left to forfeit later.
    reservations_release_expired()
    context = run_context(run)  # the factor the preview fixed, on every resume too
    result = RolloverResult(run=run)
    cursor = ChunkCursor()
    done_this_pass = 0
    wait = False  # passes skip rows others hold; the last one waits for them
    try:
        while max_chunks is None or result.chunks < max_chunks:
            done, found = _chunk_with_retries(run, context, cursor, chunk_size, wait=wait)
            if not found:
                if done_this_pass == 0 and wait:  # a waiting pass found nothing to do
                    _finish(run)
                    result.finished = True
                    break
                # One more pass from the start, for anything a crashed runner left behind. When
                # a pass did nothing, the next waits for the rows it skipped: a budget locked by
                # a usage batch, or by a runner that dies mid-chunk, would otherwise never close.
                wait = done_this_pass == 0
                cursor = ChunkCursor()
                done_this_pass = 0
                continue
            if done:
                done_this_pass += done
                result.owners += done
                result.chunks += 1
                if progress:
                    progress(result)
    except Exception as error:
        # On a fresh connection if need be: the failure may be the connection itself.
        on_fresh_connection(lambda failure=error: _fail(run, failure))
        raise
    result.run = RolloverRun.objects.get(pk=run.pk)
    return result


def _chunk_with_retries(
    run, context, cursor: ChunkCursor, size: int, *, wait: bool
) -> tuple[int, int]:
    for attempt in range(1, CHUNK_ATTEMPTS + 1):
        saved = ChunkCursor(cursor.budget_id, cursor.employee_id)
        try:
            return _rollover_chunk(run, context, cursor, size, wait=wait)
        except (IntegrityError, OperationalError) as error:
            # Another runner claimed one of these owners first (unique item), or a deadlock
            # with an ingest batch: nothing of this chunk was written; look again.
            if isinstance(error, OperationalError) and not _transient(error):
                raise
            cursor.budget_id, cursor.employee_id = saved.budget_id, saved.employee_id
            logger.warning("rollover chunk retried (%s/%s): %s", attempt, CHUNK_ATTEMPTS, error)
            if attempt == CHUNK_ATTEMPTS:
                raise
    return 0, 0


def _transient(error: OperationalError) -> bool:
    if is_wait_timeout(error):
        return True  # a row held past ALLOT_ROLLOVER_LOCK_TIMEOUT_MS: try the chunk again
    text = str(error).lower()
    return "deadlock" in text or "locked" in text or "could not serialize" in text


def _finish(run: RolloverRun) -> None:
    """Called when a waiting pass found no owner left: the run is done, even if another runner
    failed meanwhile (its chunk rolled back, and this pass found its owners done or did them)."""
    finished = RolloverRun.objects.filter(
        pk=run.pk,
        state__in=(RolloverState.RUNNING, RolloverState.FAILED, RolloverState.INTERRUPTED),
    ).update(state=RolloverState.DONE, finished_at=timezone.now())
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
        rollover_done_tell(run)


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
