"""Two syncs at once, and a sync while HR maps an identifier: threads, each with its own
PostgreSQL connection, against the local provider server (see test_sync.py for the shapes)."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import close_old_connections, connection

from budgets.models import Budget, LedgerEntry, UsageEvent
from connectors.models import BucketPosting, Provider, UnassignedUsage, UsageBucket
from connectors.services import identity_map
from connectors.sync import usage_sync
from tests.connectors.provider_server import anthropic_bucket, anthropic_result, day
from tests.factories import EmployeeFactory

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="concurrent writers need PostgreSQL; SQLite serialises them",
    ),
]


def together(*works):
    barrier = Barrier(len(works))

    def one(work):
        barrier.wait()
        try:
            return work()
        finally:
            close_old_connections()
            connection.close()

    with ThreadPoolExecutor(len(works)) as pool:
        return list(pool.map(one, works))


def _buckets(server, keys: list[str]):
    server.anthropic = [
        anthropic_bucket(n, [anthropic_result(key, uncached=1_000_000, output=0) for key in keys])
        for n in range(1, 7)
    ]


def test_two_syncs_at_once_one_reads_and_posts_the_other_skips(provider_server, anthropic):
    alice = EmployeeFactory()
    identity_map(
        provider=Provider.ANTHROPIC, kind="api_key_id", external_id="apikey_a", employee=alice
    )
    _buckets(provider_server, ["apikey_a"])
    provider_server.delay_seconds = 0.3  # each page takes a while: the runs overlap

    first, second = together(
        lambda: usage_sync(Provider.ANTHROPIC), lambda: usage_sync(Provider.ANTHROPIC)
    )

    skipped = [o[0].skipped for o in (first, second)]  # the messages report's outcome
    assert sorted(skipped) == ["", "another sync of it is running"]
    assert UsageEvent.objects.count() == 6 and UsageBucket.objects.count() == 6
    assert LedgerEntry.objects.filter(kind="usage").count() == 6
    assert sum(Budget.objects.values_list("spent_micros", flat=True)) == 6 * 3_000_000


def test_hr_mapping_while_a_sync_posts_the_same_held_buckets_posts_each_once(
    provider_server, anthropic
):
    _buckets(provider_server, ["apikey_c"])
    usage_sync(Provider.ANTHROPIC)
    assert UnassignedUsage.objects.count() == 6
    carol = EmployeeFactory()
    mapping_made = []

    def map_it():
        mapping_made.append(
            identity_map(
                provider=Provider.ANTHROPIC,
                kind="api_key_id",
                external_id="apikey_c",
                employee=carol,
            )
        )

    # a sync that reads the held buckets again (and posts them once the mapping is there)
    together(map_it, lambda: usage_sync(Provider.ANTHROPIC, since=day(1).date()))
    usage_sync(Provider.ANTHROPIC, since=day(1).date())

    assert UnassignedUsage.objects.count() == 0
    assert UsageEvent.objects.filter(employee=carol).count() == 6
    assert BucketPosting.objects.count() == 0  # no restatement: each bucket its one event
    assert UsageBucket.objects.filter(usage_event__employee=carol).count() == 6
    assert sum(Budget.objects.filter(employee=carol).values_list("spent_micros", flat=True)) == (
        6 * 3_000_000
    )
