"""Every change to money-bearing settings is kept with who and when; API keys never reach logs."""

import logging

import pytest
from django.apps import apps
from simple_history.models import registered_models

from tests.factories import api_key, finance_user, price

pytestmark = pytest.mark.django_db

# Budgets, levels (their default allocations) and bands, prices, policies (company settings,
# carryover policies, the compensation policy), offers and their rounds and letter templates,
# approval rules, people and teams. Requests change only by state
# transitions, which django-fsm-log records with who and when (see the audit trail tests).
MUST_HAVE_HISTORY = [
    "budgets.budget",
    "budgets.tokenprice",
    "people.level",
    "people.team",
    "people.employee",
    "people.project",
    "people.companysettings",
    "approvals.approvalrule",
    "budgets.carryoverpolicy",
    "compensation.levelband",
    "compensation.compensationpolicy",
    "compensation.offer",
    "compensation.offerround",
    "compensation.offerlettertemplate",
]


@pytest.mark.parametrize("label", MUST_HAVE_HISTORY)
def test_the_model_keeps_a_history(label):
    model = apps.get_model(label)

    assert model in registered_models.values()


def test_an_admin_change_records_who_made_it(client):
    editor = finance_user(username="fin@example.com")
    old = price("gpt-hist")
    client.force_login(editor)

    response = client.post(
        f"/admin/budgets/tokenprice/{old.pk}/change/",
        {
            "model_name": "gpt-hist",
            "input_per_million_micros": "4",
            "output_per_million_micros": "15",
            "cached_input_per_million_micros": "0",
            "effective_from_0": "2020-01-01",
            "effective_from_1": "00:00:00",
        },
    )

    assert response.status_code == 302, response.content[:2000]
    latest = old.history.latest()
    assert latest.history_user == editor
    assert latest.history_type == "~"


def test_a_refused_key_is_logged_by_prefix_never_whole(client, caplog):
    key = api_key("ingest")
    prefix, _, secret = key.partition(".")
    wrong = f"{prefix}.{'x' * len(secret)}"

    with caplog.at_level(logging.WARNING):
        response = client.post(
            "/api/v1/usage/",
            "[]",
            content_type="application/json",
            headers={"Authorization": f"Api-Key {wrong}"},
        )

    assert response.status_code == 401
    assert prefix in caplog.text
    assert secret not in caplog.text and "x" * len(secret) not in caplog.text
