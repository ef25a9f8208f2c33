"""The identity provider changes someone's level (SCIM PATCH of the enterprise extension's
`level`): the same level-change service as the admin, its sentence in the response's
X-Allot-Level-Change header, the history naming the token's owner, and once however often
it is sent."""

from datetime import UTC, datetime

import pytest
import time_machine

from approvals.models import ApprovalRequest, RequestKind
from budgets.models import EntryKind, LedgerEntry
from people.models import LevelChangePolicy
from provisioning.views import LEVEL_CHANGE_HEADER
from tests.factories import level
from tests.people.test_level_changes import UP_FROM_JUNE, allocated, policy
from tests.provisioning.helpers import ENTERPRISE, Scim, token

JUNE = datetime(2026, 6, 15, 12, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def scim(client):
    with time_machine.travel(JUNE, tick=False):
        yield Scim(client, token())


def set_level(scim, employee, name):
    return scim.patch(
        f"Users/{employee.user_id}",
        {"op": "replace", "path": f"{ENTERPRISE}:level", "value": name},
    )


def test_a_patched_level_posts_the_difference_and_says_so(scim):
    policy(LevelChangePolicy.AUTOMATIC)
    engineer = allocated()
    response = set_level(scim, engineer, "senior")
    assert response.status_code == 200, response.content
    assert response[LEVEL_CHANGE_HEADER] == (
        "Level mid -> senior from 2026-06-15: +$27,397.26 in FY2026 posted (policy: automatic)."
    )
    engineer.refresh_from_db()
    assert engineer.level == level("senior")
    entry = LedgerEntry.objects.get(budget__employee=engineer, kind=EntryKind.LEVEL_CHANGE)
    assert entry.amount_micros == UP_FROM_JUNE
    # the history and the entry name the token's owner, and the source
    row = engineer.history.order_by("-history_id").first()
    assert row.history_user.username == "root-okta@example.com"
    assert row.history_change_reason == "Level mid → senior from 2026-06-15 (SCIM)"
    assert entry.acting_user == row.history_user
    # sent again: nothing more, and no header
    again = set_level(scim, engineer, "Senior")
    assert again.status_code == 200 and LEVEL_CHANGE_HEADER not in again
    assert LedgerEntry.objects.filter(kind=EntryKind.LEVEL_CHANGE).count() == 1


def test_through_approval_a_patched_level_opens_the_request(scim):
    engineer = allocated()
    response = set_level(scim, engineer, "senior")
    assert response.status_code == 200, response.content
    request = ApprovalRequest.objects.get(kind=RequestKind.LEVEL_CHANGE)
    assert f"asked for, request #{request.pk}" in response[LEVEL_CHANGE_HEADER]
    assert request.amount_micros == UP_FROM_JUNE and request.employee == engineer
    assert not LedgerEntry.objects.filter(kind=EntryKind.LEVEL_CHANGE).exists()


def test_an_unknown_level_changes_nothing(scim):
    engineer = allocated()
    response = set_level(scim, engineer, "Wizard")
    assert response.status_code == 200 and LEVEL_CHANGE_HEADER not in response
    engineer.refresh_from_db()
    assert engineer.level == level("mid")
