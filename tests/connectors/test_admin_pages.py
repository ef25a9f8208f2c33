"""The connectors' admin pages as HR and finance use them: the unassigned queue's count and
total on the admin index (linking to the queue), and finance's Sync now (the action and the
change page's button), permission-checked on the server."""

import pytest

from budgets.models import UsageEvent
from connectors.models import Provider, ProviderConnection, SyncCursor
from connectors.services import identity_map
from connectors.sync import usage_sync
from connectors.tasks import usage_sync_all
from tests.connectors.conftest import connection_to
from tests.connectors.provider_server import anthropic_bucket, anthropic_result
from tests.factories import EmployeeFactory, finance_user, hr_user

pytestmark = pytest.mark.django_db

QUEUE = "/admin/connectors/unassignedusage/"


def test_hr_and_finance_see_the_unassigned_count_and_total_on_the_admin_index(
    provider_server, anthropic, client
):
    provider_server.anthropic = [
        anthropic_bucket(1, [anthropic_result("apikey_x", uncached=1_000_000, output=0)]),  # $3
        anthropic_bucket(2, [anthropic_result("apikey_y", uncached=0, output=100_000)]),  # $1.50
    ]
    usage_sync(Provider.ANTHROPIC)

    for user in (hr_user(), finance_user()):
        client.force_login(user)
        page = client.get("/admin/").content.decode()
        assert "Unassigned usage: 2 buckets held, $4.50" in page
        assert f'href="{QUEUE}"' in page
        assert client.get(QUEUE).status_code == 200
    client.force_login(EmployeeFactory().user)  # no admin role: neither line nor queue
    assert "Unassigned usage:" not in client.get("/admin/", follow=True).content.decode()
    assert client.get(QUEUE).status_code in (302, 403)


def test_nothing_held_shows_no_line(anthropic, client):
    client.force_login(finance_user())
    assert "Unassigned usage:" not in client.get("/admin/").content.decode()


def sync_url(connection: ProviderConnection) -> str:
    return f"/admin/connectors/providerconnection/{connection.pk}/sync/"


def test_finance_syncs_now_from_the_change_page_and_sees_the_result(
    provider_server, anthropic, client, django_capture_on_commit_callbacks
):
    employee = EmployeeFactory()
    provider_server.anthropic = [
        anthropic_bucket(1, [anthropic_result("apikey_a", uncached=1_000_000, output=0)])
    ]
    identity_map(
        provider=Provider.ANTHROPIC, kind="api_key_id", external_id="apikey_a", employee=employee
    )
    client.force_login(finance_user())
    change = f"/admin/connectors/providerconnection/{anthropic.pk}/change/"
    assert "Sync now" in client.get(change).content.decode()

    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = client.post(sync_url(anthropic), follow=True)

    assert queued  # the task, queued after commit (eager here: it ran, and queued alerts)
    assert "queued" in response.content.decode()
    assert UsageEvent.objects.filter(employee=employee).count() == 1
    anthropic.refresh_from_db()
    assert anthropic.sync_queued_at and anthropic.last_sync_at >= anthropic.sync_queued_at
    assert "messages: 1 buckets: 1 new" in anthropic.last_sync_result
    page = client.get(change).content.decode()
    assert "messages: 1 buckets: 1 new" in page
    listing = client.get("/admin/connectors/providerconnection/").content.decode()
    assert "1 posted" in listing  # the Sync column: the last result
    assert SyncCursor.objects.filter(connection=anthropic, lease_until__isnull=True).exists()


def test_the_sync_now_action_queues_each_chosen_connection(
    provider_server, anthropic, client, django_capture_on_commit_callbacks
):
    client.force_login(finance_user())
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/connectors/providerconnection/",
            {"action": "sync_now", "_selected_action": [anthropic.pk]},
            follow=True,
        )
    assert "Sync queued: Anthropic (Admin API)" in response.content.decode()
    anthropic.refresh_from_db()
    assert anthropic.last_sync_result.startswith("messages: 0 buckets")


def test_hr_may_not_sync_a_connection(anthropic, client, django_capture_on_commit_callbacks):
    client.force_login(hr_user())
    change = client.get(f"/admin/connectors/providerconnection/{anthropic.pk}/change/")
    assert change.status_code == 200 and "Sync now" not in change.content.decode()
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert client.post(sync_url(anthropic)).status_code == 403
        listing = client.post(
            "/admin/connectors/providerconnection/",
            {"action": "sync_now", "_selected_action": [anthropic.pk]},
        )
    assert listing.status_code in (200, 302) and not queued
    anthropic.refresh_from_db()
    assert anthropic.sync_queued_at is None


def test_a_connection_without_its_key_says_so_and_queues_nothing(
    anthropic, client, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.delenv(anthropic.admin_key_env)
    client.force_login(finance_user())
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = client.post(sync_url(anthropic), follow=True)
    assert "is not set" in response.content.decode() and not queued


def test_the_hourly_task_records_each_connections_result_and_a_failure_stops_no_other(
    provider_server, anthropic, monkeypatch
):
    openai = connection_to(provider_server, Provider.OPENAI)
    ProviderConnection.objects.filter(pk=openai.pk).update(admin_key_env="ALLOT_UNSET_ADMIN_KEY")
    monkeypatch.delenv("ALLOT_UNSET_ADMIN_KEY", raising=False)

    done = usage_sync_all.delay().get()

    anthropic.refresh_from_db()
    openai.refresh_from_db()
    assert anthropic.last_sync_result.startswith("messages: 0 buckets")
    assert done["anthropic"] == anthropic.last_sync_result
    assert openai.last_sync_result.startswith("failed: The environment variable")
