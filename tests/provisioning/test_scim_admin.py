"""SCIM in the admin and on the command line: a token made once and stored hashed, listed for
superusers without its secret and revoked there; HR's "needs a level" list and its count on the
admin index, where picking a level makes the employee."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from people.models import Employee
from provisioning.models import ScimToken, token_digest
from provisioning.services import waiting_list
from tests.factories import TeamFactory, UserFactory, hr_user, level
from tests.provisioning.helpers import Scim, token, user_doc

pytestmark = pytest.mark.django_db


def test_create_scim_token_prints_it_once_and_keeps_its_hash(client):
    root = UserFactory(username="root@example.com", is_staff=True, is_superuser=True)
    out = StringIO()
    call_command("create_scim_token", "okta", stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    stored = ScimToken.objects.get(name="okta")
    assert stored.digest == token_digest(raw) and raw not in stored.digest
    assert stored.created_by == root
    assert Scim(client, raw).get("Users").status_code == 200
    stored.refresh_from_db()
    assert stored.last_used_at is not None
    with pytest.raises(CommandError):
        call_command("create_scim_token", "okta", stdout=StringIO())


def test_the_command_needs_a_superuser_named_when_there_are_several():
    UserFactory(username="a@example.com", is_superuser=True)
    UserFactory(username="b@example.com", is_superuser=True)
    with pytest.raises(CommandError, match="--by"):
        call_command("create_scim_token", "x", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("create_scim_token", "x", "--by", "nobody", stdout=StringIO())
    call_command("create_scim_token", "x", "--by", "b@example.com", stdout=StringIO())
    assert ScimToken.objects.get(name="x").created_by.username == "b@example.com"


def test_bad_tokens_get_a_scim_401(client):
    raw = token()
    for header in ("", "Bearer wrong", f"Basic {raw}", f"Token {raw}"):
        response = client.get("/scim/v2/Users", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401
        assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_superusers_session_is_not_a_token(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert client.get("/scim/v2/Users").status_code == 401


def test_superusers_see_tokens_without_secrets_and_revoke_them(client):
    raw = token("entra")
    stored = ScimToken.objects.get(name="entra")
    client.force_login(stored.created_by)
    page = client.get("/admin/provisioning/scimtoken/")
    assert page.status_code == 200 and "entra" in page.content.decode()
    assert raw not in page.content.decode() and stored.digest not in page.content.decode()
    response = client.post(
        "/admin/provisioning/scimtoken/",
        {"action": "revoke", "_selected_action": [stored.pk]},
    )
    assert response.status_code == 302
    stored.refresh_from_db()
    assert stored.revoked
    client.logout()
    assert Scim(client, raw).get("Users").status_code == 401
    hr = hr_user()
    client.force_login(hr)
    assert client.get("/admin/provisioning/scimtoken/").status_code == 403


def test_hr_sees_who_needs_a_level_and_gives_one(client):
    scim = Scim(client, token())
    uid = scim.post("Users", user_doc("wait@example.com", level="Wizard")).json()["id"]
    client.force_login(hr_user())
    index = client.get("/admin/").content.decode()
    assert "1 person needs" in index and "a level" in index
    waiting = waiting_list().get(user_id=uid)
    listed = client.get("/admin/provisioning/provisionedperson/").content.decode()
    assert "wait@example.com" in listed and "Wizard" in listed
    team = TeamFactory()
    response = client.post(
        f"/admin/provisioning/provisionedperson/{waiting.pk}/change/",
        {"level": level("mid").pk, "team": team.pk},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    employee = Employee.objects.get(user_id=uid)
    assert (employee.level, employee.team) == (level("mid"), team)
    assert not waiting_list().exists()
    assert "needs" not in client.get("/admin/").content.decode().split("messagelist")[-1][:200]


def test_a_token_lives_no_longer_than_its_creators_superuser_rights(client):
    raw = token("gone")
    creator = ScimToken.objects.get(name="gone").created_by
    scim = Scim(client, raw)
    assert scim.get("Users").status_code == 200
    creator.is_superuser = False
    creator.save()
    assert scim.get("Users").status_code == 401


def test_a_scim_leaver_is_in_the_audit_trail_under_the_token(client):
    scim = Scim(client, token("okta"))
    uid = scim.post("Users", user_doc("trail@example.com", level="mid")).json()["id"]
    scim.patch(f"Users/{uid}", {"op": "replace", "path": "active", "value": False})
    employee = Employee.objects.get(user_id=uid)
    last = employee.history.order_by("-history_id").first()
    assert last.is_active is False and last.history_change_reason == "SCIM (okta)"
    assert last.history_user.username == "root-okta@example.com"
