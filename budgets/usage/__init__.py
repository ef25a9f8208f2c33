"""Usage ingestion: a batch of gateway events, validated one by one, written in one transaction.

The write is set-based: the budgets a batch can touch are locked once (in id order, so two
batches cannot deadlock), the drawdown is decided in memory against those locked totals, then
ledger entries and events go in as two bulk INSERTs, budgets as one bulk UPDATE and the daily
rollup as one upsert. A bad event is reported in `rejected` and never blocks the good ones.

On PostgreSQL the entries and events are written with COPY *before* the budget locks are
taken, with the payers the unlocked totals give; under the locks the drawdown is decided again
and, if any payer moved, the transaction is rolled back and redone with the locks first. The
stored rows are always those of the decision made under the locks (one rule, `drawdown_payer`,
shared with authorize), while the locks are held only for that decision and the UPDATEs.

By concept, each importing only those above it:
- `parse.py`: the event's fields (EVENT_FIELDS, which the API schema is built from), one
  event checked with no database, and its payload hash.
- `resolve.py`: employees, projects and prices for a batch.
- `drawdown.py`: who pays (`drawdown_order`, `drawdown_payer`), the batch's budgets, and the
  decision for a whole batch.
- `write.py`: one batch's write, through the ledger kernel.
- `ingest.py`: `usage_ingest`, `ingest_parsed` (with its retries) and `usage_post`.
"""

from budgets.usage.drawdown import drawdown_order, drawdown_payer
from budgets.usage.ingest import ingest_parsed, usage_ingest, usage_post
from budgets.usage.parse import (
    DEFAULT_SOURCE,
    MAX_EVENTS_PER_BATCH,
    IngestResult,
    ParsedEvent,
    usage_event_parse,
)
from budgets.usage.write import EVENT_COLUMNS

__all__ = [
    "DEFAULT_SOURCE",
    "EVENT_COLUMNS",
    "MAX_EVENTS_PER_BATCH",
    "IngestResult",
    "ParsedEvent",
    "drawdown_order",
    "drawdown_payer",
    "ingest_parsed",
    "usage_event_parse",
    "usage_ingest",
    "usage_post",
]
