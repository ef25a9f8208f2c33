"""API keys and users mapped to employees by email, from the providers' directories, against
the local server serving their published shapes (paged by id):

- OpenAI, List users (`GET /v1/organization/users`: limit 1-100, after; {object: "list", data:
  [{object: "organization.user", id, name, email, role, added_at}], first_id, last_id,
  has_more}): https://developers.openai.com/api/reference/cli/resources/admin/subresources/organization/subresources/users
  and the reference's mirror at
  https://www.w3cschool.cn/openai_api/openai_api-reference-resources-admin-subresources-organization-subresources-users-methods-list.html
- Anthropic, List Users (`GET /v1/organizations/users`: limit, after_id; {data: [{type: "user",
  id, email, name, role, added_at}], first_id, last_id, has_more}):
  https://platform.claude.com/docs/en/api/admin/users/list
- Anthropic, List API Keys (`GET /v1/organizations/api_keys`: limit 1-1000, after_id; {data:
  [{type: "api_key", id, name, created_at, created_by: {id, type}, partial_key_hint, status,
  workspace_id}], first_id, last_id, has_more}):
  https://platform.claude.com/docs/en/api/admin/api_keys/list and
  https://platform.claude.com/docs/en/api/http/organization/api_keys.md
"""

import pytest

from budgets.models import UsageEvent
from connectors.models import BucketState, IdentityMapping, Provider, UsageBucket
from connectors.services import identity_map
from connectors.sync import usage_sync, usage_sync_recorded
from tests.connectors.provider_server import (
    anthropic_api_key,
    anthropic_bucket,
    anthropic_result,
    anthropic_user,
    openai_bucket,
    openai_result,
    openai_user,
)
from tests.factories import EmployeeFactory

pytestmark = pytest.mark.django_db


def test_openai_users_map_by_email_and_their_usage_posts_in_the_same_sync(provider_server, openai):
    ann = EmployeeFactory(user__email="ann@example.com")
    bob = EmployeeFactory(user__email="bob@example.com")
    provider_server.openai_users = [
        openai_user("user-ann", "Ann@Example.com"),  # case differs: still Ann
        openai_user("user-bob", "bob@example.com"),
        openai_user("user-ext", "contractor@elsewhere.com"),  # no such employee
    ]
    provider_server.openai = [
        openai_bucket(
            4,
            [
                openai_result(user_id="user-ann", input_tokens=1_000_000, output_tokens=0),
                openai_result(user_id="user-bob", input_tokens=0, output_tokens=100_000),
                openai_result(user_id="user-ext", input_tokens=1_000, output_tokens=0),
            ],
        )
    ]

    lines = []
    usage_sync(Provider.OPENAI, progress=lines.append)

    mapped = IdentityMapping.objects.filter(provider=Provider.OPENAI, kind="user_id")
    assert {(m.external_id, m.employee) for m in mapped} == {("user-ann", ann), ("user-bob", bob)}
    assert all(m.matched_automatically for m in mapped)
    assert UsageEvent.objects.get(employee=ann).cost_micros == 2_500_000  # $2.50 a million
    assert UsageEvent.objects.get(employee=bob).cost_micros == 1_000_000
    [held] = UsageBucket.objects.filter(state=BucketState.HELD)
    assert held.identities["user_id"] == "user-ext"
    assert "openai directory: 3 identifiers with an email, 2 mapped" in "\n".join(lines)
    paged = [r for r in provider_server.requests if r["path"] == "/v1/organization/users"]
    assert len(paged) == 2 and paged[1]["query"]["after"] == ["user-bob"]  # after last_id

    usage_sync(Provider.OPENAI)  # again: nothing new, nothing twice
    assert mapped.count() == 2 and UsageEvent.objects.count() == 2


def test_anthropic_keys_map_to_the_employee_who_created_them(provider_server, anthropic):
    cy = EmployeeFactory(user__email="cy@example.com")
    provider_server.anthropic_users = [
        anthropic_user("user_01cy", "cy@example.com"),
        anthropic_user("user_01xx", "gone@example.com"),
        anthropic_user("user_01zz", "other@example.com"),
    ]
    provider_server.anthropic_api_keys = [
        anthropic_api_key("apikey_cy1", "user_01cy"),
        anthropic_api_key("apikey_cy2", "user_01cy"),
        anthropic_api_key("apikey_svc", "svc_01", creator_type="service_account"),
        anthropic_api_key("apikey_gone", "user_01xx"),
    ]
    provider_server.anthropic = [
        anthropic_bucket(
            1,
            [
                anthropic_result("apikey_cy1", uncached=1_000_000, output=0),  # $3
                anthropic_result("apikey_cy2", uncached=0, output=100_000),  # $1.50
                anthropic_result("apikey_svc", uncached=1_000, output=0),
            ],
        )
    ]

    result = usage_sync_recorded(Provider.ANTHROPIC)

    keys = IdentityMapping.objects.filter(provider=Provider.ANTHROPIC, kind="api_key_id")
    assert {(m.external_id, m.employee) for m in keys} == {("apikey_cy1", cy), ("apikey_cy2", cy)}
    assert sum(e.cost_micros for e in UsageEvent.objects.filter(employee=cy)) == 4_500_000
    [held] = UsageBucket.objects.filter(state=BucketState.HELD)  # a service account's key
    assert held.identities["api_key_id"] == "apikey_svc"
    assert "directory: 3 identifiers with an email, 2 mapped to employees by email" in result


def test_hrs_mapping_is_left_alone(provider_server, openai):
    ann = EmployeeFactory(user__email="ann@example.com")
    dee = EmployeeFactory(user__email="dee@example.com")
    identity_map(provider=Provider.OPENAI, kind="user_id", external_id="user-ann", employee=dee)
    provider_server.openai_users = [openai_user("user-ann", "ann@example.com")]

    usage_sync(Provider.OPENAI)

    mapping = IdentityMapping.objects.get(external_id="user-ann")
    assert mapping.employee == dee and not mapping.matched_automatically
    assert ann  # the email's employee did not take it


def test_a_directory_the_key_may_not_read_is_skipped_and_the_reports_still_sync(
    provider_server, openai
):
    dana = EmployeeFactory()
    identity_map(provider=Provider.OPENAI, kind="user_id", external_id="user-d", employee=dana)
    provider_server.openai = [
        openai_bucket(4, [openai_result(user_id="user-d", input_tokens=1_000, output_tokens=0)])
    ]  # openai_users is None: the server answers 404

    result = usage_sync_recorded(Provider.OPENAI)

    assert UsageEvent.objects.filter(employee=dana).count() == 1
    assert "directory: not read: /v1/organization/users answered 404" in result
