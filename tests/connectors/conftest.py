from datetime import UTC, date, datetime

import pytest

from budgets.models import TokenPrice
from connectors.models import Provider, ProviderConnection
from tests.connectors.provider_server import ProviderServer

KEY_ENV = "ALLOT_TEST_PROVIDER_ADMIN_KEY"
ADMIN_KEY = "sk-ant-admin-test-not-a-secret"


@pytest.fixture
def provider_server():
    server = ProviderServer().start()
    yield server
    server.stop()


@pytest.fixture
def admin_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, ADMIN_KEY)
    return ADMIN_KEY


@pytest.fixture
def prices(db):
    """$3 / $15 / $0.30 per million for the Anthropic model; $2.50 / $10 / $1.25 for OpenAI's."""
    since = datetime(2026, 1, 1, tzinfo=UTC)
    for model, rates in {
        "claude-sonnet-4-20250514": (3_000_000, 15_000_000, 300_000),
        "gpt-4o-2024-08-06": (2_500_000, 10_000_000, 1_250_000),
    }.items():
        TokenPrice.objects.create(
            model_name=model,
            input_per_million_micros=rates[0],
            output_per_million_micros=rates[1],
            cached_input_per_million_micros=rates[2],
            effective_from=since,
        )


def connection_to(server, provider: str, **options) -> ProviderConnection:
    """A connection to the local server; the Claude Code report (a request per day) is off
    unless asked for (tests/connectors/test_claude_code.py)."""
    return ProviderConnection.objects.create(
        provider=provider,
        base_url=server.url,
        admin_key_env=KEY_ENV,
        start_on=date(2026, 11, 1),
        **({"claude_code": False} | options),
    )


@pytest.fixture
def anthropic(provider_server, admin_key, prices):
    return connection_to(provider_server, Provider.ANTHROPIC)


@pytest.fixture
def openai(provider_server, admin_key, prices):
    return connection_to(provider_server, Provider.OPENAI)
