"""Usage that arrives by itself: the providers' own usage reports (Anthropic's Admin API,
OpenAI's organization API) read on a schedule, as time buckets, into the same ingest as the API.

Above budgets and people (it calls budgets.usage and budgets.services; nothing below imports
it). By concept:
- `models.py`: a connection, its cursor per report, the buckets read, their postings, the
  identity map, and the unassigned queue (held buckets);
- `client.py`: HTTP with backoff (429/5xx, Retry-After) and pagination (next_page);
- `reports.py`: each report's request and response shape, turned into `BucketRow`s;
- `identity.py`: who a bucket belongs to, the automatic match by email, mapping by HR;
- `buckets.py`: a page of bucket rows applied: new, unchanged, restated (the difference only),
  held;
- `sync.py`: `usage_sync`, one run over a connection's reports under a lease (one at a time).
"""
