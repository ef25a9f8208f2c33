import json
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from threading import Barrier

import pytest
from django.core.management import CommandError, call_command
from django.db import close_old_connections, connection
from django.utils import timezone

from budgets.alerts import budget_alerts_check
from budgets.models import AlertClaim, Budget, UsageEvent
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_ingest
from notifications.models import Notification
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory


def line(n, **extra):
    return json.dumps(
        {
            "id": f"imp-{n}",
            "employee": "eng@example.com",
            "model": "m",
            "input_tokens": 1,
            "output_tokens": 1,
            "cost_usd": "0.25",
            "occurred_at": timezone.now().isoformat(),
            **extra,
        }
    )


@pytest.mark.django_db
def test_import_usage_backfills_through_the_same_service_and_is_safe_to_rerun(tmp_path):
    EmployeeFactory(user__email="eng@example.com")
    export = tmp_path / "gateway.jsonl"
    export.write_text(
        "\n".join([line(1), line(2), "{broken", line(3, employee="ghost@example.com"), line(4)])
    )
    out, err = StringIO(), StringIO()

    call_command(
        "import_usage", str(export), "--source=litellm", "--batch-size=2", stdout=out, stderr=err
    )
    call_command(
        "import_usage", str(export), "--source=litellm", stdout=StringIO(), stderr=StringIO()
    )

    assert "3 accepted, 0 duplicates, 2 rejected" in out.getvalue()
    assert "line 3: not JSON" in err.getvalue() and "ghost@example.com" in err.getvalue()
    assert UsageEvent.objects.filter(source="litellm").count() == 3
    assert Budget.objects.get().spent_micros == 750_000


@pytest.mark.django_db
def test_import_usage_says_clearly_when_the_file_is_missing():
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_usage", "/nonexistent/file.jsonl")


@pytest.mark.django_db
def test_the_openapi_schema_documents_every_endpoint_and_the_docs_render(client):
    schema = client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/usage/", "/api/v1/authorize/", "/api/v1/employees/{email}/balance/"} <= set(
        paths
    )
    usage = paths["/api/v1/usage/"]["post"]
    assert usage["requestBody"]["content"]["application/json"]["examples"]
    # every endpoint shows an answer too
    for path, method in (
        ("/api/v1/usage/", "post"),
        ("/api/v1/authorize/", "post"),
        ("/api/v1/employees/{email}/balance/", "get"),
    ):
        ok = paths[path][method]["responses"]["200"]["content"]["application/json"]
        assert ok["examples"], path
    authorize = paths["/api/v1/authorize/"]["post"]
    assert authorize["requestBody"]["content"]["application/json"]["examples"]
    assert "409" in authorize["responses"]
    assert "ApiKey" in json.dumps(schema.json()["components"]["securitySchemes"])
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
    assert b"cdn" not in docs.content.lower()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent workers need PostgreSQL row semantics"
)
def test_an_alert_fires_once_when_several_workers_check_at_the_same_time(settings):
    # the check the usage queues (in the outbox) would fire everything first: it stays queued,
    # unrelayed, and the threads race
    settings.ALLOT_OUTBOX_RELAY_ON_COMMIT = False
    engineer = EmployeeFactory(user__email="eng@example.com")
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=engineer)
    budget_allocate(budget=budget, amount_micros=100 * 10**6, acting_user=None)
    usage_ingest(
        events=[
            {
                "id": "big",
                "employee": "eng@example.com",
                "model": "m",
                "input_tokens": 1,
                "output_tokens": 1,
                "cost_usd": "95",
                "occurred_at": timezone.now().isoformat(),
            }
        ]
    )
    barrier = Barrier(8)

    def worker(_):
        barrier.wait()
        try:
            return len(budget_alerts_check(budget=budget))
        finally:
            close_old_connections()
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        fired = list(pool.map(worker, range(8)))

    thresholds = AlertClaim.objects.filter(budget=budget, kind="threshold")
    assert sorted(thresholds.values_list("threshold", flat=True)) == [50, 80, 90]
    assert sum(fired) == AlertClaim.objects.filter(budget=budget).count()
    # one message for the event, for the highest threshold (90), and one for the projection;
    # 50 and 80 are recorded as covered by it, whichever worker claimed them
    sent = AlertClaim.objects.filter(budget=budget, delivery="sent")
    assert sorted(sent.values_list("kind", "threshold")) == [("projected", 0), ("threshold", 90)]
    assert Notification.objects.filter(user=engineer.user).count() == sent.count() == 2


@pytest.mark.django_db
def test_the_key_description_keeps_its_placeholder_on_the_docs_page(client):
    # The docs page renders descriptions as Markdown: a bare <key> is read as an HTML tag and
    # vanishes; in a code span it shows.
    schemes = client.get("/api/v1/schema/?format=json").json()["components"]["securitySchemes"]
    assert "`Api-Key <key>`" in schemes["ApiKey"]["description"]
