"""A heartbeat that keeps moving while one long step runs (a PDF render, a zip, a slow query).

A run's heartbeat is how the minute sweeps tell a live build from a lost one: "running" with
no heartbeat for ALLOT_RUN_STALLED_AFTER_SECONDS means its worker died. Progress between stages
moves it, but one stage may take longer than that bound; `heartbeat(beat)` calls `beat` (a
plain UPDATE of the run's heartbeat_at) every `every` seconds from a daemon thread on its own
database connection until the block ends. A killed worker process takes the thread with it, so
its run still goes stale and is swept."""

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)


def heartbeat_every() -> float:
    """A fifth of the stalled bound, at most 30 s: a few missed beats are not a lost worker."""
    return min(30.0, settings.ALLOT_RUN_STALLED_AFTER_SECONDS / 5)


def _beat_until_stopped(beat: Callable[[], object], every: float, stop: threading.Event) -> None:
    try:
        while not stop.wait(every):
            try:
                beat()
            except Exception:  # a missed beat is not the build's failure; the next one tries
                logger.warning("heartbeat missed", exc_info=True)
    finally:
        connections.close_all()  # this thread's own connections only


@contextmanager
def heartbeat(beat: Callable[[], object], *, every: float | None = None) -> Iterator[None]:
    """Call `beat` every `every` seconds (default `heartbeat_every()`) while the block runs."""
    every = every or heartbeat_every()
    stop = threading.Event()
    thread = threading.Thread(
        target=_beat_until_stopped, args=(beat, every, stop), name="allot-heartbeat", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every + 10)
