"""`usage_sync`: one run over a provider's reports, the command's and the beat task's service:
its usage reports, then its cost report, then the provider's directory (users and API keys
mapped by email, connectors.directory), then the reconciliation's alerts (connectors.costs).
`usage_sync_recorded` is the tasks' form: the run's result written on the connection.

Each report has a cursor row. A run takes the row's lease with one conditional UPDATE (the
database serialises the two UPDATEs, SQLite included: the second sees the first's lease and
takes nothing), so of two runs at once one reads and posts and the other skips and says so. A
run that dies leaves a lease that expires after LEASE; each page renews it.

From the cursor (less `restate_days`, as providers restate recent buckets), or `since`, or the
connection's first day, every page is read and applied in its own transaction, so a failure
keeps the pages before it; the cursor moves only when the whole report was read. A dry run
applies each page in a transaction it rolls back: it reports exactly what a run would do and
writes nothing (it takes no lease and moves no cursor)."""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from common.errors import AllotError
from connectors.buckets import PageOutcome, rows_apply
from connectors.claude_code import CLAUDE_CODE_REPORT, claude_code_apply, claude_code_params
from connectors.client import Client, ProviderError
from connectors.costs import COST_REPORTS, costs_apply, reconciliation_alert
from connectors.directory import directory_emails, directory_match
from connectors.models import Provider, ProviderConnection, SyncCursor, base_url_allowed
from connectors.preview import Attribution, attribution_add
from connectors.reports import REPORTS, ReportSpec

logger = logging.getLogger(__name__)
LEASE = timedelta(minutes=30)
COST_REPORT_NAMES = {spec.report for spec in COST_REPORTS.values()}


@dataclass
class ReportOutcome:
    report: str
    skipped: str = ""  # why this run did not read the report
    note: str = ""  # what a report that is not buckets did (the directory)
    pages: int = 0
    totals: PageOutcome = field(default_factory=PageOutcome)
    # a dry run's: who each group of identifiers would be posted to (connectors.preview)
    attributions: dict[tuple, Attribution] = field(default_factory=dict)


class _Rollback(Exception):
    """Raised inside a dry run's page transaction to undo it."""


def usage_sync(
    provider: str,
    *,
    since: date | None = None,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> list[ReportOutcome]:
    """Read each of the provider's usage reports and apply them (see the module's docstring).
    `progress` gets one line per page; `sleep` replaces time.sleep in the backoff (tests)."""
    connection = ProviderConnection.objects.filter(provider=provider).first()
    if connection is None:
        raise AllotError(f"No {provider} connection is configured.", field="provider")
    if not connection.is_active:
        raise AllotError(f"The {connection} connection is switched off.", field="provider")
    key = connection.admin_key
    if not key:
        raise AllotError(
            f"The environment variable {connection.admin_key_env} (the admin key) is not set, "
            "or is not named ALLOT_..._ADMIN_KEY.",
            field="admin_key_env",
        )
    if connection.base_url and not base_url_allowed(connection.base_url):
        raise AllotError("The connection's base URL must be https://.", field="base_url")
    say = progress or (lambda line: None)
    outcomes = []
    specs = [*REPORTS[connection.provider], COST_REPORTS[connection.provider]]
    if connection.provider == Provider.ANTHROPIC and connection.claude_code:
        specs.insert(1, CLAUDE_CODE_REPORT)
    # a dry run reads the directory first (GETs only) to say who each bucket would go to
    directory = _directory_read(connection, key, say, sleep) if dry_run else None
    for spec in specs:
        if dry_run:  # a cursor not made yet is not made
            cursor = SyncCursor.objects.filter(connection=connection, report=spec.report).first()
            cursor = cursor or SyncCursor(connection=connection, report=spec.report)
        else:
            cursor, _ = SyncCursor.objects.get_or_create(connection=connection, report=spec.report)
        token = None if dry_run else lease_take(cursor)
        if not dry_run and token is None:
            outcome = ReportOutcome(spec.report, skipped="another sync of it is running")
            say(f"{provider} {spec.report}: skipped, {outcome.skipped}")
            outcomes.append(outcome)
            continue
        try:
            outcome = _report_sync(
                connection, cursor, spec, key, since, (dry_run, directory), token, say, sleep
            )
        finally:
            if token:
                lease_release(cursor, token)
        outcomes.append(outcome)
    usage_reports = {spec.report for spec in REPORTS[connection.provider]}
    if not dry_run and not any(o.skipped for o in outcomes if o.report in usage_reports):
        # after the reports, by the run that read them: what they held for a key or user the
        # directory maps is posted (a run that skipped them leaves it to the one reading)
        _directory_sync(connection, key, say, sleep)
    if not dry_run and not outcomes[-1].skipped:
        told = reconciliation_alert(connection)
        if told:
            say(f"{provider}: finance told of {told} day(s) over the reconciliation limit")
    return outcomes


def summary(outcome: ReportOutcome) -> str:
    """One report's line in a run's result."""
    return f"{outcome.report}: {outcome.skipped or outcome.note or outcome.totals.line()}"


def _directory_client(connection, key: str, sleep) -> Client:
    client = Client(connection.url, REPORTS[connection.provider][0].headers(key))
    if sleep is not None:
        client.sleep = sleep
    return client


def _directory_read(connection, key: str, say, sleep) -> dict[tuple[str, str], str]:
    """A dry run's read of the provider's directory: (kind, id) -> email, nothing written. A
    directory the key may not read is said, and the preview goes by the identity map alone."""
    try:
        found = directory_emails(_directory_client(connection, key, sleep), connection.provider)
    except ProviderError as error:
        say(f"{connection.provider} directory (dry run): not read: {error.message}")
        return {}
    say(f"{connection.provider} directory (dry run): {len(found)} identifiers with an email")
    return found


def _directory_sync(connection, key: str, say, sleep) -> ReportOutcome:
    """The provider's users and API keys, mapped by email (connectors.directory). A directory
    the key may not read is said and skipped: the usage reports are still read."""
    try:
        found = directory_match(_directory_client(connection, key, sleep), connection.provider)
    except ProviderError as error:
        outcome = ReportOutcome("directory", skipped=f"not read: {error.message}")
    else:
        outcome = ReportOutcome("directory", note=found.line())
    say(f"{connection.provider} directory: {outcome.skipped or outcome.note}")
    return outcome


def usage_sync_recorded(provider: str) -> str:
    """usage_sync, its result (or why it failed) written on the connection: what finance's
    Sync now shows when it is done (the cursors show each report's pages meanwhile)."""
    directory: list[str] = []

    def progress(line: str) -> None:
        logger.info(line)
        if line.startswith(f"{provider} directory: "):
            directory.append(line.removeprefix(f"{provider} "))

    try:
        outcomes = usage_sync(provider, progress=progress)
    except AllotError as error:
        result = f"failed: {error.message}"
    else:
        result = "; ".join([*(summary(o) for o in outcomes), *directory])
    ProviderConnection.objects.filter(provider=provider).update(
        last_sync_at=timezone.now(), last_sync_result=result[:1000]
    )
    return result


def _report_sync(connection, cursor, spec: ReportSpec, key, since, dry, token, say, sleep):
    """`dry`: (dry_run, the directory a dry run read, None otherwise)."""
    dry_run, directory = dry
    started = timezone.now()
    start = _start(connection, cursor, since)
    client = Client(connection.url, spec.headers(key))
    if sleep is not None:
        client.sleep = sleep
    outcome = ReportOutcome(spec.report)
    label = f"{connection.provider} {spec.report}{' (dry run)' if dry_run else ''}"
    mappings: dict = {}  # the identity map as read by this run's pages (identity.py)
    for params in _requests(spec, start, started):
        for _, body in client.pages(spec.path, params):
            page = _page_apply(connection, spec, body, dry_run, mappings)
            if directory is not None and spec in REPORTS[connection.provider]:
                attribution_add(
                    outcome.attributions, connection.provider, spec, spec.rows(body), directory
                )
            outcome.pages += 1
            outcome.totals.add(page)
            waited = f", waited {sum(client.waits):.0f}s" if client.waits else ""
            say(f"{label} page {outcome.pages}: {page.line()}{waited}")
            client.waits.clear()
            if token and not lease_renew(cursor, token, f"running: page {outcome.pages}"):
                raise AllotError("The sync's lease was lost to another run; stopped.")
    if not dry_run:
        today = datetime.combine(started.astimezone(UTC).date(), time(), tzinfo=UTC)
        SyncCursor.objects.filter(pk=cursor.pk).update(
            synced_through=today,
            last_run_at=started,
            last_outcome=f"{outcome.pages} pages, {outcome.totals.line()}"[:500],
        )
    return outcome


def _start(connection: ProviderConnection, cursor: SyncCursor, since: date | None) -> datetime:
    if since is not None:
        return datetime.combine(since, time(), tzinfo=UTC)
    if cursor.synced_through is not None:
        return cursor.synced_through - timedelta(days=connection.restate_days)
    return datetime.combine(connection.start_on, time(), tzinfo=UTC)


def _requests(spec: ReportSpec, start: datetime, now: datetime) -> list[list[tuple[str, str]]]:
    """The report's queries from `start`: one, paged; or, for the Claude Code report (one day a
    request), one per UTC day to today."""
    if spec.report != CLAUDE_CODE_REPORT.report:
        return [spec.params(start)]
    first, last = start.astimezone(UTC).date(), now.astimezone(UTC).date()
    return [claude_code_params(first + timedelta(days=n)) for n in range((last - first).days + 1)]


def _page_apply(connection, spec, body, dry_run: bool, mappings: dict) -> PageOutcome:
    page = PageOutcome()
    try:
        with transaction.atomic():
            if spec.report in COST_REPORT_NAMES:
                page = costs_apply(connection, body)
            elif spec.report == CLAUDE_CODE_REPORT.report:
                page = claude_code_apply(connection, body)
            else:
                page = rows_apply(connection, spec, spec.rows(body), mappings)
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass
    return page


def lease_take(cursor: SyncCursor) -> str | None:
    """The lease's token when this run took it; None when another run holds it."""
    now = timezone.now()
    token = str(uuid.uuid4())
    taken = (
        SyncCursor.objects.filter(pk=cursor.pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE, lease_token=token)
    )
    return token if taken == 1 else None


def lease_renew(cursor: SyncCursor, token: str, progress: str = "") -> bool:
    """Keep the lease; `progress` shows on the cursor (the admin) while the run goes on."""
    changes = {"last_outcome": progress[:500]} if progress else {}
    return bool(
        SyncCursor.objects.filter(pk=cursor.pk, lease_token=token).update(
            lease_until=timezone.now() + LEASE, **changes
        )
    )


def lease_release(cursor: SyncCursor, token: str) -> None:
    SyncCursor.objects.filter(pk=cursor.pk, lease_token=token).update(
        lease_until=None,
        lease_token="",  # nosec B106 - a lease's id, not a password: empty means no run holds it
    )
