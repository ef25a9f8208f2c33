"""Model instances from hand-written SQL, for the few hot paths where building the query through
the ORM costs more than running it. The values go through the same converters the ORM applies
(aware datetimes on SQLite, decimals, JSON), so the instances equal what a queryset returns.
`execute_prepared` runs such a statement as a prepared statement on PostgreSQL."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from django.db import connection, models
from django.db.backends.utils import CursorDebugWrapper
from django.db.models import signals
from django.db.models.base import ModelState


@dataclass(frozen=True)
class Columns:
    model: type[models.Model]
    names: list[str]
    converters: list[tuple[int, Any, list]]
    select: str

    def build(self, db: str, connection, values: tuple | list) -> models.Model:
        """An instance of one row. Pass the real connection (`connections[alias]`), not the
        `django.db.connection` proxy: each attribute of the proxy is a context-local lookup."""
        values = list(values)
        for position, col, functions in self.converters:
            for function in functions:
                values[position] = function(values[position], col, connection)
        model = self.model
        if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
            return model.from_db(db, self.names, values)
        # What from_db does, without Model.__init__'s per-field work (a third of the cost of
        # reading a thousand rows): the values as attributes, the fields not read deferred.
        instance = model.__new__(model)
        instance.__dict__.update(zip(self.names, values, strict=True))
        instance._state = ModelState()
        instance._state.adding = False
        instance._state.db = db
        return instance


def model_columns(
    model: type[models.Model], alias: str, connection, only: list[str] | None = None
) -> Columns:
    """The concrete columns of `model` under `alias` (all, or the fields named in `only`; the
    others are deferred, as with .only()): the SELECT list and how to build instances back."""
    fields = [
        f for f in model._meta.concrete_fields if only is None or f.name in only or f.primary_key
    ]
    converters = []
    for position, field in enumerate(fields):
        col = field.get_col(alias)
        found = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
        if found:
            converters.append((position, col, found))
    select = ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in fields)
    return Columns(model, [f.attname for f in fields], converters, select)


def int_array(values: Iterable[int | date]) -> str:
    """A PostgreSQL array literal of integers or dates, to pass as one parameter (cast it in the
    SQL: `%s::bigint[]`, `%s::date[]`). psycopg's client-side binding quotes a list element by
    element, a regular expression each; for the thousand ids of an ingest batch that cost more
    than the query."""
    return "{" + ",".join(map(str, values)) + "}"


def text_array(values: Iterable[str]) -> str:
    """A PostgreSQL array literal of text, to pass as one parameter cast `%s::text[]`: every
    element double-quoted, with its backslashes and double quotes escaped (the array syntax's
    own quoting; the literal as a whole is then quoted by the driver like any string)."""
    return "{" + ",".join(f'"{_array_escape(v)}"' for v in values) + "}"


def _array_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def executemany_insert(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Insert rows with executemany in batches of 10,000 (where COPY is not there: SQLite);
    returns how many."""
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('%s' for _ in columns)})"  # nosec B608  # noqa: S608,E501
    count = 0
    batch: list = []
    with connection.cursor() as cursor:
        for row in rows:
            batch.append(row)
            if len(batch) == 10_000:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count


def sequences_reset(*models) -> None:
    """After rows were inserted with explicit ids: each id sequence starts after the largest."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # nosec B608  # noqa: S608
                f"COALESCE((SELECT MAX(id) FROM {table}), 1))"
            )


def execute_prepared(sql: str, params: Sequence) -> list[tuple]:
    """The rows of `sql` (a statement that returns rows), which PostgreSQL parses and plans
    once per connection, not per call.

    For the gateway's hot path (authorize): planning its read (joins and a UNION) took four
    times as long as running it. Django turns psycopg's automatic preparing off (so connection
    poolers in transaction mode work), so this asks for it per statement, on a cursor that binds
    on the server; a pooler in front of PostgreSQL must then keep prepared statements per
    client (PgBouncer 1.21+ with max_prepared_statements). Results come in binary (a fifth less
    work to read than text; the same Python values). Errors are Django's, and the
    statement is in the query log as any other (the tests count them). Elsewhere: a plain
    cursor."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    connection.validate_no_broken_transaction()
    connection.ensure_connection()
    # psycopg's own Cursor binds on the server (Django's default ClientCursor cannot prepare).
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        if connection.queries_logged:
            with CursorDebugWrapper(cursor, connection).debug_sql(sql, params):
                cursor.execute(sql, params, prepare=True, binary=True)
        else:
            cursor.execute(sql, params, prepare=True, binary=True)
        return cursor.fetchall()
