"""`usage_sync PROVIDER --dry-run`: who each bucket would be posted to, from the identity
directory as a real run finds it (the identity map, identifiers that are emails, the provider's
directory read with GETs only), and what would stay unassigned; nothing written to the database.

The shapes served are the providers' published ones: the usage reports' addresses are in
test_sync.py's docstring, the directories' in test_directory.py's (Anthropic's List Users and
List API Keys, https://platform.claude.com/docs/en/api/admin/users/list and
https://platform.claude.com/docs/en/api/admin/api_keys/list; OpenAI's List users,
https://developers.openai.com/api/reference/cli/resources/admin/subresources/organization/subresources/users).
"""

import pytest
from django.apps import apps
from django.core.management import call_command

from connectors.models import IdentityMapping, Provider, UsageBucket
from connectors.services import identity_map
from connectors.sync import usage_sync
from tests.connectors.provider_server import (
    anthropic_api_key,
    anthropic_bucket,
    anthropic_result,
    anthropic_user,
    openai_bucket,
    openai_result,
    openai_user,
)
from tests.factories import EmployeeFactory, ProjectFactory


def _rows() -> dict[str, int]:
    """Every table's row count: a dry run must leave each as it was."""
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


@pytest.mark.django_db  # a write, even uncommitted, would show in the counts on this connection
def test_anthropic_dry_run_says_who_each_bucket_goes_to_and_writes_nothing(
    provider_server, anthropic, capsys
):
    # given Alice mapped by HR, Carol's key known only to Anthropic's directory (created by
    # her user), and a key nobody knows
    alice = EmployeeFactory(user__email="alice@example.com")
    carol = EmployeeFactory(user__email="carol@example.com")
    identity_map(
        provider=Provider.ANTHROPIC, kind="api_key_id", external_id="apikey_a", employee=alice
    )
    provider_server.anthropic_users = [anthropic_user("user_carol", "Carol@Example.com")]
    provider_server.anthropic_api_keys = [anthropic_api_key("apikey_c", "user_carol")]
    provider_server.anthropic = [
        anthropic_bucket(
            1,
            [
                anthropic_result("apikey_a", uncached=1_000_000, output=0),  # $3.00
                anthropic_result("apikey_c", uncached=0, output=100_000),  # $1.50
            ],
        ),
        anthropic_bucket(2, [anthropic_result("apikey_a", uncached=0, output=200_000)]),  # $3
        anthropic_bucket(2, [anthropic_result("apikey_z", uncached=2_000_000, output=0)]),  # $6
    ]
    before = _rows()

    # when
    call_command("usage_sync", "anthropic", "--dry-run")

    # then a table: each identifier, its buckets and days, and whom it would be posted to
    out = capsys.readouterr().out
    table = out[out.index("who each bucket would go to") :].splitlines()[1:]
    header, *lines, total = [line.strip() for line in table if line.startswith("  ")]
    assert header.split("  ")[0] == "Identifier" and "Would be posted to" in header
    by_key = {line.split(",")[0]: line for line in lines}
    assert set(by_key) == {"API key apikey_a", "API key apikey_c", "API key apikey_z"}
    alice_line = by_key["API key apikey_a"]
    assert " 2 " in alice_line and "2026-11-01 to 2026-11-02" in alice_line
    assert "$6.00" in alice_line and "alice@example.com (by API key, identity map)" in alice_line
    carol_line = by_key["API key apikey_c"]
    assert "$1.50" in carol_line and "2026-11-01 " in carol_line
    assert "carol@example.com (by API key, the provider's directory)" in carol_line
    zed_line = by_key["API key apikey_z"]
    assert "$6.00" in zed_line and "UNASSIGNED: No employee mapped for api_key_id apikey_z" in (
        zed_line
    )
    assert lines[-1] == zed_line  # the unassigned last
    assert total == (
        "3 bucket(s) would be posted to 2 employee(s); 1 would stay unassigned ($6.00)."
    )
    assert "Dry run: nothing was written." in out
    # and nothing was written: no bucket, event, ledger entry, mapping, cursor or anything
    assert _rows() == before
    assert not IdentityMapping.objects.filter(external_id="apikey_c").exists()
    assert carol.pk and not UsageBucket.objects.exists()


@pytest.mark.django_db
def test_openai_dry_run_matches_by_email_and_project_without_writing(provider_server, openai):
    # given Dana named by email in the report, Erin in the directory, and a project mapped
    dana = EmployeeFactory(user__email="dana@example.com")
    erin = EmployeeFactory(user__email="erin@example.com")
    project = ProjectFactory(code="ATLAS", lead=EmployeeFactory())
    identity_map(provider=Provider.OPENAI, kind="project_id", external_id="proj_a", project=project)
    provider_server.openai_users = [openai_user("user-erin", "erin@example.com")]
    provider_server.openai = [
        openai_bucket(
            4,
            [
                openai_result(user_id="dana@example.com", input_tokens=1_000_000, output_tokens=0),
                openai_result(
                    user_id="user-erin", input_tokens=0, output_tokens=100_000, project_id="proj_a"
                ),
                openai_result(
                    user_id="user-x", input_tokens=1_000, output_tokens=0, project_id=None
                ),
            ],
        )
    ]
    before = _rows()
    lines = []

    [outcome, _costs] = usage_sync(Provider.OPENAI, dry_run=True, progress=lines.append)

    who = {a.identities["user_id"]: a for a in outcome.attributions.values()}
    assert who["dana@example.com"].employee == dana
    assert who["dana@example.com"].via == "User (OpenAI), its email"
    assert who["dana@example.com"].estimated_micros == 2_500_000
    assert (who["user-erin"].employee, who["user-erin"].project) == (erin, project)
    assert (
        who["user-erin"].attributed_to
    ) == "erin@example.com, project ATLAS (by User (OpenAI), the provider's directory)"
    assert who["user-x"].employee is None and "user_id user-x" in who["user-x"].reason
    assert "openai directory (dry run): 1 identifiers with an email" in lines
    assert _rows() == before
