"""The API key's row is cached (KEY_CACHE_SECONDS) so a call does not look it up; any change to a
key through the ORM clears the cache, so a revoked or deleted key is refused on the next call."""

import json

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from budgets.models import IntegrationKey
from budgets.models.keys import key_cache_key
from tests.factories import EmployeeFactory, api_key

URL = "/api/v1/authorize/"
pytestmark = pytest.mark.django_db


def call(client, key: str):
    return client.post(
        URL,
        json.dumps({"employee": "eng@example.com", "estimated_cost_usd": "1"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )


def key_queries(queries: CaptureQueriesContext) -> int:
    return sum(IntegrationKey._meta.db_table in q["sql"] for q in queries.captured_queries)


@pytest.fixture
def key(client):
    EmployeeFactory(user__email="eng@example.com")
    value = api_key()
    assert call(client, value).status_code == 200  # looked up; noting its last use clears it
    assert call(client, value).status_code == 200  # looked up and cached
    return value


def the_row(key: str) -> IntegrationKey:
    return IntegrationKey.objects.get(prefix=key.partition(".")[0])


def test_a_known_key_is_not_looked_up_again_while_cached(client, key):
    with CaptureQueriesContext(connection) as queries:
        assert call(client, key).status_code == 200
    assert key_queries(queries) == 0
    cached = cache.get(key_cache_key(key.partition(".")[0]))
    assert cached is not None and key not in repr(cached.__dict__)  # the hash, never the key


def test_a_wrong_secret_with_a_cached_prefix_is_refused(client, key):
    prefix = key.partition(".")[0]
    assert call(client, f"{prefix}.not-the-secret").status_code == 401


@pytest.mark.parametrize(
    "revoke",
    [
        pytest.param(lambda row: (setattr(row, "revoked", True), row.save()), id="saved-revoked"),
        pytest.param(
            lambda row: IntegrationKey.objects.filter(pk=row.pk).update(revoked=True),
            id="queryset-update",
        ),
        pytest.param(lambda row: row.delete(), id="deleted"),
        pytest.param(
            lambda row: IntegrationKey.objects.filter(pk=row.pk).delete(), id="queryset-delete"
        ),
    ],
)
def test_a_revoked_or_deleted_key_is_refused_on_the_next_call_despite_the_cache(
    client, key, revoke
):
    assert call(client, key).status_code == 200  # served from the cache

    revoke(the_row(key))

    response = call(client, key)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_a_request_that_caches_the_old_row_during_the_change_is_undone_at_commit(
    client, key, django_capture_on_commit_callbacks
):
    old_row = the_row(key)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        IntegrationKey.objects.filter(pk=old_row.pk).update(revoked=True)
        # another request, which still sees the committed row, caches it again meanwhile
        cache.set(key_cache_key(old_row.prefix), old_row, 30)

    assert call(client, key).status_code == 401


def test_a_key_that_expires_while_cached_is_refused(client, key):
    from datetime import timedelta

    from django.utils import timezone

    row = the_row(key)
    row.expiry_date = timezone.now() + timedelta(seconds=1)
    row.save()
    assert call(client, key).status_code == 200  # cached again, with its expiry
    IntegrationKey.objects.filter(pk=row.pk).update(expiry_date=timezone.now())
    assert call(client, key).status_code == 401
