"""Many entries at once, for the paths that post thousands in a transaction (ingest, the
rollover, hold forfeitures, demo data): the same moves as `post`, written in bulk.

The caller holds the budgets' locks (or owns rows nobody else can see yet) and has decided
every amount under them; these functions only write. On PostgreSQL entries go in with COPY and
totals move in one UPDATE joined to unnest() of arrays (three parameters however many budgets;
bulk_update's CASE per row was ~30x slower, a VALUES list of 3,000 placeholders ~3x).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import F

from budgets.ledger.periods import closed_months, posting
from budgets.models import Budget, DailySpend, LedgerEntry
from common.money import Micros
from common.rawsql import executemany_insert, int_array


class EntryRow(NamedTuple):
    """One entry to append, as its columns."""

    budget_id: int
    kind: str
    amount_micros: Micros
    memo: str
    created_at: datetime
    idempotency_key: str | None = None
    acting_user_id: int | None = None
    rollover_run_id: int | None = None
    # Left empty, the month of `created_at` under the closed-month rule (`periods.posting`).
    period: date | None = None
    late_for: date | None = None


ENTRY_COLUMNS = EntryRow._fields


@dataclass(slots=True)
class TotalsMove:
    """What one budget's stored totals gain (deltas), and a carryover's new expiry date."""

    allocated_micros: Micros = 0
    spent_micros: Micros = 0
    carried_over_micros: Micros = 0
    carryover_expires_on: date | None = None


@dataclass(slots=True)
class DaySpend:
    """A budget's spend and event count on one company day."""

    spent_micros: Micros = 0
    events: int = 0


def copy_rows(model, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Append rows to a model's table: COPY on PostgreSQL (constraints still checked: a
    duplicate raises IntegrityError), bulk_create elsewhere."""
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


def entries_copy(rows: list[EntryRow], *, with_ids: bool = False) -> list[int]:
    """Append entries; with `with_ids`, their ids in row order (on PostgreSQL drawn from the
    sequence first, so other rows written in the same COPY pass can point at them)."""
    if not rows:
        return []
    rows = _with_periods(rows)
    if connection.vendor != "postgresql":
        entries = LedgerEntry.objects.bulk_create(
            [LedgerEntry(**row._asdict()) for row in rows], batch_size=1_000
        )
        return [entry.pk for entry in entries]
    if not with_ids:
        copy_rows(LedgerEntry, ENTRY_COLUMNS, rows)
        return []
    table = LedgerEntry._meta.db_table
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.execute(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "  # nosec B608  # noqa: S608
            "FROM generate_series(1, %s)",
            [len(rows)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    copy_rows(
        LedgerEntry, ("id", *ENTRY_COLUMNS), ((i, *row) for i, row in zip(ids, rows, strict=True))
    )
    return ids


def _with_periods(rows: list[EntryRow]) -> list[EntryRow]:
    """Each row with the month it is posted in: its own if the caller set one, else that of
    its `created_at` (the next open month, marked late, when that one is closed)."""
    if all(row.period for row in rows):  # the caller has placed them (usage: by occurred_at)
        return rows
    closed = closed_months()
    return [
        row if row.period else row._replace(**posting(row.created_at, closed)._asdict())
        for row in rows
    ]


def entries_load(rows: Iterable[EntryRow], *, first_id: int) -> int:
    """Stream entries into a database being seeded (demo data), with ids from `first_id` on
    (the caller has checked nothing uses them); returns how many. Reset the id sequence after
    (`common.rawsql.sequences_reset`)."""
    columns = ("id", *ENTRY_COLUMNS)
    numbered = ((first_id + index, *row) for index, row in enumerate(rows))
    if connection.vendor == "postgresql":
        count = 0
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                f"COPY {LedgerEntry._meta.db_table} ({', '.join(columns)}) FROM STDIN"
            ) as copy,
        ):
            for row in numbered:
                copy.write_row(row)
                count += 1
        return count
    return executemany_insert(LedgerEntry._meta.db_table, columns, numbered)


def totals_set(budgets: list[Budget]) -> None:
    """Store the spent and reserved totals the caller computed on these locked budgets."""
    if not budgets:
        return
    if connection.vendor != "postgresql":
        Budget.objects.bulk_update(budgets, ["spent_micros", "reserved_micros"])
        return
    budgets = sorted(budgets, key=lambda b: b.id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Budget._meta.db_table} AS b "  # nosec B608  # noqa: S608
            "SET spent_micros = v.spent, reserved_micros = v.reserved "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS v(id, spent, reserved) "
            "WHERE b.id = v.id",
            [
                int_array([b.id for b in budgets]),
                int_array([b.spent_micros for b in budgets]),
                int_array([b.reserved_micros for b in budgets]),
            ],
        )


def totals_add(moves: dict[int, TotalsMove]) -> None:
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
                "spent_micros = b.spent_micros + v.spent, "
                "carried_over_micros = b.carried_over_micros + v.carried, "
                "carryover_expires_on = COALESCE(v.expires, b.carryover_expires_on) "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::date[]) "
                "AS v(id, allocated, spent, carried, expires) WHERE b.id = v.id",
                [
                    [budget_id for budget_id, _ in rows],
                    [move.allocated_micros for _, move in rows],
                    [move.spent_micros for _, move in rows],
                    [move.carried_over_micros for _, move in rows],
                    [move.carryover_expires_on for _, move in rows],
                ],
            )
        return
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(chunk))
        params = [
            value
            for budget_id, move in chunk
            for value in (
                budget_id,
                move.allocated_micros,
                move.spent_micros,
                move.carried_over_micros,
                move.carryover_expires_on,
            )
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH v(id, allocated, spent, carried, expires) AS (VALUES {values}) "  # nosec B608  # noqa: S608
                f"UPDATE {table} SET "
                f"allocated_micros = {table}.allocated_micros + v.allocated, "
                f"spent_micros = {table}.spent_micros + v.spent, "
                f"carried_over_micros = {table}.carried_over_micros + v.carried, "
                f"carryover_expires_on = COALESCE(v.expires, {table}.carryover_expires_on) "
                f"FROM v WHERE {table}.id = v.id",
                params,
            )


def reserved_release(per_budget: dict[int, Micros]) -> None:
    """Give back holds: each budget's reserved total less what was held on it."""
    for budget_id in sorted(per_budget):  # id order: no deadlock with other writers
        Budget.objects.filter(pk=budget_id).update(
            reserved_micros=F("reserved_micros") - per_budget[budget_id]
        )


def daily_spend_add(daily: dict[tuple[int, date], DaySpend]) -> None:
    """Add to the per-day rollup: one additive upsert (the addition is done by the database, so
    it is right whoever else adds to the same day)."""
    if not daily:
        return
    table = DailySpend._meta.db_table
    rows = [(b, day, d.spent_micros, d.events) for (b, day), d in sorted(daily.items())]
    upsert = (
        f"ON CONFLICT (budget_id, day) DO UPDATE SET "  # nosec B608
        f"spent_micros = {table}.spent_micros + excluded.spent_micros, "
        f"events = {table}.events + excluded.events"
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (budget_id, day, spent_micros, events) "  # nosec B608  # noqa: S608
                "SELECT * FROM unnest(%s::bigint[], %s::date[], %s::bigint[], %s::integer[]) "
                + upsert,
                [int_array(column) for column in zip(*rows, strict=True)],
            )
        return
    for start in range(0, len(rows), 1_000):
        chunk = rows[start : start + 1_000]
        values = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (budget_id, day, spent_micros, events) VALUES {values} "  # nosec B608  # noqa: S608
                + upsert,
                [v for row in chunk for v in row],
            )
