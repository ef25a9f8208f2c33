"""The durable local spool: usage events wait here until Allot has answered for them.

One SQLite file, one row per event, written before the first attempt to send it (WAL journal:
a committed row survives the proxy being killed). A row leaves `pending` only once Allot has
answered for it; rejected rows are kept aside with the reason. Exactly once comes from Allot:
an event id it already has, with the same contents, is a duplicate that charges nothing, so
sending a row again after a lost answer is harmless (and so is sending it while the first send is
still being written: Allot counts that as a duplicate too). Two sends of one row are avoided all
the same: a sender claims its rows for a lease, atomically, so neither this process's retry loop
nor another proxy process on the same file sends a row that is in flight.
"""

import json
import os
import sqlite3
import threading
import time


class Spool:
    def __init__(self, path: str):
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS usage ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " event_id TEXT NOT NULL UNIQUE,"
            " body TEXT NOT NULL,"
            " created REAL NOT NULL,"
            " state TEXT NOT NULL DEFAULT 'pending',"  # pending | rejected
            " error TEXT,"
            " claimed_until REAL NOT NULL DEFAULT 0)"  # in flight until then
        )

    def add(self, event: dict, lease: float) -> int | None:
        """Keep an event, claimed by the caller for `lease` seconds (it sends it now); None
        when the event id is already kept (its first contents are the ones Allot may have)."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO usage (event_id, body, created, claimed_until) "
                "VALUES (?, ?, ?, ?)",
                (event["id"], json.dumps(event, sort_keys=True), time.time(), time.time() + lease),
            )
            return cursor.lastrowid if cursor.rowcount else None

    def claim(self, limit: int, lease: float) -> list[tuple[int, dict]]:
        """The oldest pending rows nobody has in flight, now claimed for `lease` seconds."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # one claimer at a time, across processes
            rows = self._db.execute(
                "SELECT id, body FROM usage WHERE state = 'pending' AND claimed_until < ? "
                "ORDER BY id LIMIT ?",
                (now, limit),
            ).fetchall()
            self._db.executemany(
                "UPDATE usage SET claimed_until = ? WHERE id = ?",
                [(now + lease, row_id) for row_id, _ in rows],
            )
            self._db.execute("COMMIT")
        return [(row_id, json.loads(body)) for row_id, body in rows]

    def unclaim(self, row_ids: list[int]) -> None:
        """Not delivered: the rows are free for the next attempt at once."""
        with self._lock:
            self._db.executemany(
                "UPDATE usage SET claimed_until = 0 WHERE id = ?", [(i,) for i in row_ids]
            )

    def done(self, delivered: list[int], rejected: dict[int, str]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM usage WHERE id = ?", [(i,) for i in delivered])
            self._db.executemany(
                "UPDATE usage SET state = 'rejected', error = ? WHERE id = ?",
                [(error, i) for i, error in rejected.items()],
            )
            self._db.execute("COMMIT")

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(
                self._db.execute("SELECT state, count(*) FROM usage GROUP BY state").fetchall()
            )
