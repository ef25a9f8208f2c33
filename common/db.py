"""The database's faults, named: a lock or statement that waited too long, a database that
cannot be reached; and the bound on how long a transaction may wait for either."""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connection, connections

logger = logging.getLogger(__name__)
T = TypeVar("T")

# PostgreSQL's SQLSTATEs: lock_not_available (lock_timeout) and query_canceled
# (statement_timeout); a class 08 state is a connection that failed or was cut.
LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"
# Seconds a caller is told to wait before trying again (Retry-After).
RETRY_AFTER_BUSY_SECONDS = 1
RETRY_AFTER_UNAVAILABLE_SECONDS = 5


def _sqlstate(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return str(getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None) or "")


def is_wait_timeout(exc: BaseException) -> bool:
    """A lock or statement that passed its bound (waits_bounded): the row is busy, retry."""
    if not isinstance(exc, OperationalError):
        return False
    state = _sqlstate(exc)
    if state in (LOCK_NOT_AVAILABLE, QUERY_CANCELED):
        return True
    # SQLite's busy timeout passed: another writer holds the database.
    return "database is locked" in str(exc)


def is_database_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached, or the connection was cut under us."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError) or is_wait_timeout(exc):
        return False
    state = _sqlstate(exc)
    # No SQLSTATE at all: the connection could not be made or was lost (psycopg's OperationalError
    # without a server answer), or the server is shutting down (57P01..57P03).
    return state == "" or state.startswith("08") or state in ("57P01", "57P02", "57P03")


BUSY_DETAIL = "The budget is busy with another request; retry in a moment."
UNAVAILABLE_DETAIL = "The service is briefly unavailable; retry in a moment."
SERVICE_UNAVAILABLE = 503


def fault_body(exc: BaseException) -> tuple[dict, int, int] | None:
    """The API's answer to a database fault: (body, status, Retry-After seconds), or None when
    `exc` is not one. A wait past its bound is "busy"; a database out of reach "unavailable"."""
    if is_wait_timeout(exc):
        body = {"detail": BUSY_DETAIL, "code": "busy"}
        return body, SERVICE_UNAVAILABLE, RETRY_AFTER_BUSY_SECONDS
    if is_database_unavailable(exc):
        discard_broken_connections()
        body = {"detail": UNAVAILABLE_DETAIL, "code": "unavailable"}
        return body, SERVICE_UNAVAILABLE, RETRY_AFTER_UNAVAILABLE_SECONDS
    return None


def discard_broken_connections() -> None:
    """Close each connection the database cut (outside a transaction), so the next request opens
    a new one whatever CONN_MAX_AGE says."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.in_atomic_block and not conn.is_usable():
            conn.close()


@contextmanager
def waits_bounded(*, lock_ms: int, statement_ms: int, using: str = "default") -> Iterator[None]:
    """Within the current transaction, no lock is waited for longer than `lock_ms` and no
    statement runs longer than `statement_ms` (PostgreSQL's SET LOCAL; SQLite has its busy
    timeout only). Passing either raises an OperationalError that `is_wait_timeout` names and
    the API answers as 503 "busy, retry". Must be called inside transaction.atomic()."""
    conn = connections[using]
    if conn.vendor == "postgresql":
        if not conn.in_atomic_block:
            raise RuntimeError("waits_bounded sets the bounds of a transaction: open one first")
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true), "
                "set_config('statement_timeout', %s, true)",
                [f"{int(lock_ms)}ms", f"{int(statement_ms)}ms"],
            )
    yield


@contextmanager
def session_waits_bounded(
    *, lock_ms: int, statement_ms: int, using: str = "default"
) -> Iterator[None]:
    """waits_bounded for work that spans many transactions (a report build, an admin page):
    the session's bounds for the block, the ones it had put back afterwards (a kept connection
    serves the next request or task). Inside a transaction they are that transaction's. On
    PostgreSQL only (SQLite has its busy timeout)."""
    conn = connections[using]
    if conn.vendor != "postgresql":
        yield
        return
    local = conn.in_atomic_block
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout'), "
            "set_config('lock_timeout', %s, %s), set_config('statement_timeout', %s, %s)",
            [f"{int(lock_ms)}ms", local, f"{int(statement_ms)}ms", local],
        )
        lock_before, statement_before, _, _ = cursor.fetchone()
    try:
        yield
    finally:
        _session_bounds_restore(conn, local, lock_before, statement_before)


def _session_bounds_restore(conn, local: bool, lock_before: str, statement_before: str) -> None:
    if conn.connection is None:
        return  # a new connection starts with the server's own bounds
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, %s), "
                "set_config('statement_timeout', %s, %s)",
                [lock_before, local, statement_before, local],
            )
    except DatabaseError:
        if conn.in_atomic_block:
            # the transaction failed; ending it ends its bounds (SET LOCAL) with it
            logger.warning("the bounds could not be put back in a failed transaction")
            return
        logger.warning("the session's bounds could not be put back; closing the connection")
        conn.close()


def on_fresh_connection(write: Callable[[], T]) -> T:
    """Run `write` (a record of a failure, say); if the connection it finds is dead, close it
    and run it once more on a new one, so the failure is recorded even when the database
    connection was what failed. Inside a transaction the connection cannot be swapped."""
    try:
        return write()
    except DatabaseError:
        if connection.in_atomic_block:
            raise
        logger.warning("the database connection failed; recording on a fresh one")
        connection.close()
        return write()
