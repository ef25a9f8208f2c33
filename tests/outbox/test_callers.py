"""The follow-ups of usage, reports and notifications go through the outbox: nothing is sent
to the broker by the request, and alert checks wait once per budget however busy ingest is."""

from datetime import timedelta

import pytest
from django.utils import timezone

from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_post
from outbox.models import OutboxMessage
from outbox.services import outbox_relay
from people.selectors import current_fiscal_year
from reporting.models import RunState
from reporting.services import report_run_request
from tests.factories import EmployeeFactory, UserFactory, price

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _beat_relays(settings):
    settings.ALLOT_OUTBOX_RELAY_ON_COMMIT = False


def test_a_busy_hour_of_ingest_queues_one_alert_check_per_budget():
    employee = EmployeeFactory(user__email="eng@example.com")
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=employee)
    budget_allocate(budget=budget, amount_micros=10 * 10**6, acting_user=None)
    price("m")
    for n in range(5):
        usage_post(
            employee=employee,
            event_id=f"busy-{n}",
            model_name="m",
            occurred_at=timezone.now() - timedelta(minutes=n + 1),
            input_tokens=1000,
            output_tokens=100,
        )

    waiting = OutboxMessage.objects.filter(sent_at__isnull=True)
    assert list(waiting.values_list("task", "kwargs")) == [
        ("budgets.alerts_check", {"budget_ids": [budget.pk]})
    ]
    assert outbox_relay().sent == 1


def test_asking_for_a_report_queues_its_build_with_the_run():
    finance = UserFactory()
    run = report_run_request(fiscal_year=current_fiscal_year() - 1, quarter=1, acting_user=finance)

    (message,) = OutboxMessage.objects.all()
    assert (message.task, message.args) == ("reporting.report_build", [run.pk])
    assert run.state == RunState.QUEUED
