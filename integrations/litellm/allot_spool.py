"""The durable local spool: usage events wait here until Allot has answered for them.

One SQLite file, one row per event, written before the first attempt to send it (WAL journal:
a committed row survives the proxy being killed). A row leaves `pending` only once Allot has
answered for it; rejected rows are kept aside with the reason. Exactly once comes from Allot:
an event id it already has, with the same contents, is a duplicate that charges nothing, so
sending a row twice (a lost answer, a retry racing the first send) is harmless.
"""

from __future__ import annotations

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
            " error TEXT)"
        )

    def add(self, event: dict) -> int:
        """Keep an event; the same event id twice keeps the first (its contents are the ones
        Allot may already have)."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO usage (event_id, body, created) VALUES (?, ?, ?)",
                (event["id"], json.dumps(event, sort_keys=True), time.time()),
            )
            (row_id,) = self._db.execute(
                "SELECT id FROM usage WHERE event_id = ?", (event["id"],)
            ).fetchone()
            return row_id

    def pending(self, limit: int) -> list[tuple[int, dict]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, body FROM usage WHERE state = 'pending' ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [(row_id, json.loads(body)) for row_id, body in rows]

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
