"""Committing a rollover: in chunks, each one transaction that locks its budgets, writes one
RolloverItem per owner (unique per run and owner: a second application is impossible, not just
unlikely), the ledger entries and the budgets' totals. A killed worker loses only its open chunk;
running again picks up the owners without an item, and two runners never do an owner twice."""

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from budgets.carryover import expiry_date
from budgets.models import (
    Budget,
    EntryKind,
    LedgerEntry,
    RolloverItem,
    RolloverRun,
    RolloverState,
)
from budgets.rollover.plan import (
    CHUNK_SIZE,
    EMPLOYEE_FIELDS,
    SOURCE_FIELDS,
    OwnerPlan,
    RolloverContext,
    allocated_employees,
    employee_row,
    employees_without_budget,
    level_allocation_key_for,
    owner_plan,
    rollover_context,
    source_budgets,
)
from common.errors import AllotError
from common.money import format_usd
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
    from budgets.tasks import rollover_commit

    transaction.on_commit(lambda: rollover_commit.delay(run.pk, chunk_size=chunk_size))


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
                f"INSERT INTO {table} (employee_id, team_id, project_id, enforcement, "  # nosec B608  # noqa: S608
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
                f"UPDATE {table} AS b SET "  # nosec B608  # noqa: S608 - table name from the model
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
                f"WITH v(id, allocated, carried, expires) AS (VALUES {values}) "  # nosec B608  # noqa: S608
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
    run: RolloverRun, context: RolloverContext, cursor: list[int], size: int, *, wait: bool
) -> tuple[int, int]:
    """One chunk in one transaction. `cursor` is [last budget id, last employee id] and moves on;
    returns how many owners were done and how many candidates were looked at (0: none left).
    `wait`: wait for rows other transactions hold instead of skipping them."""
    with transaction.atomic():
        budget_ids = _next_budget_ids(run, cursor[0], size, wait=wait)
        if budget_ids:
            cursor[0] = budget_ids[-1]
            rows = list(
                Budget.objects.filter(pk__in=budget_ids).order_by("pk").values(*SOURCE_FIELDS)
            )
        else:
            rows = _next_employee_rows(run, context, cursor[1], size, wait=wait)
            if not rows:
                return 0, 0
            cursor[1] = rows[-1]["employee_id"]
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


def _chunk_with_retries(run, context, cursor, size, *, wait: bool) -> tuple[int, int]:
    for attempt in range(1, CHUNK_ATTEMPTS + 1):
        saved = list(cursor)
        try:
            return _rollover_chunk(run, context, cursor, size, wait=wait)
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
    """Called when a waiting pass found no owner left: the run is done, even if another runner
    failed meanwhile (its chunk rolled back, and this pass found its owners done or did them)."""
    finished = RolloverRun.objects.filter(
        pk=run.pk, state__in=(RolloverState.RUNNING, RolloverState.FAILED)
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
