"""SCIM Users and Groups at /scim/v2/: a bearer token, people made and changed through the
people services, the level and manager from the enterprise extension or HR's waiting list,
filters and pages, and leavers closed by `employee_deactivate` (DELETE keeps every row)."""

import pytest

from people.models import Employee, Team
from provisioning.services import waiting_list
from tests.factories import EmployeeFactory, TeamFactory, level
from tests.provisioning.helpers import Scim, token, user_doc

pytestmark = pytest.mark.django_db


@pytest.fixture
def scim(client):
    return Scim(client, token())


def test_create_with_level_and_manager_makes_the_employee(scim):
    boss = EmployeeFactory(user__email="boss@example.com")
    response = scim.post(
        "Users", user_doc("ada@example.com", level="senior", manager={"value": "boss@example.com"})
    )
    assert response.status_code == 201, response.content
    body = response.json()
    employee = Employee.objects.get(user__email="ada@example.com")
    assert body["id"] == str(employee.user_id)
    assert employee.level == level("senior") and employee.manager == boss
    assert employee.user.first_name == "Ada" and not employee.user.has_usable_password()
    assert body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"][
        "value"
    ] == str(boss.user_id)
    history = employee.history.first()
    assert history.history_user.username == "root-okta@example.com"
    assert history.history_change_reason == "SCIM (okta)"


def test_create_without_a_known_level_waits_for_hr(scim):
    response = scim.post("Users", user_doc("new@example.com", level="Wizard"))
    assert response.status_code == 201, response.content
    waiting = waiting_list().get(user__email="new@example.com")
    assert waiting.level_asked == "Wizard"
    assert not Employee.objects.filter(user__email="new@example.com").exists()
    # the provider names a level later: they become an employee and leave the list
    uid = response.json()["id"]
    patched = scim.patch(
        f"Users/{uid}",
        {
            "op": "replace",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:level",
            "value": "junior",
        },
    )
    assert patched.status_code == 200, patched.content
    assert Employee.objects.get(user_id=uid).level == level("junior")
    assert not waiting_list().filter(user_id=uid).exists()


def test_duplicate_username_is_a_conflict(scim):
    assert scim.post("Users", user_doc("dup@example.com")).status_code == 201
    again = scim.post("Users", user_doc("DUP@example.com"))
    assert again.status_code == 409 and again.json()["scimType"] == "uniqueness"


def test_update_names_email_external_id(scim):
    uid = scim.post("Users", user_doc("g@example.com", level="mid")).json()["id"]
    doc = user_doc("g@example.com", given="Grace", family="Hopper", level="mid")
    doc["externalId"] = "okta-42"
    doc["emails"] = [{"value": "grace@example.com", "primary": True}]
    put = scim.put(f"Users/{uid}", doc)
    assert put.status_code == 200, put.content
    employee = Employee.objects.get(user_id=uid)
    assert (employee.user.first_name, employee.user.email) == ("Grace", "grace@example.com")
    assert employee.external_id == "okta-42"
    patch = scim.patch(f"Users/{uid}", {"op": "replace", "value": {"name.familyName": "H."}})
    assert patch.status_code == 200 and patch.json()["name"]["familyName"] == "H."


def test_filter_and_pages(scim):
    for n in range(5):
        scim.post("Users", user_doc(f"p{n}@example.com", level="mid"))
    found = scim.get("Users", filter='userName eq "P3@example.com"').json()
    assert found["totalResults"] == 1 and found["Resources"][0]["userName"] == "p3@example.com"
    by_email = scim.get("Users", filter='emails.value eq "p4@example.com"').json()
    assert [r["userName"] for r in by_email["Resources"]] == ["p4@example.com"]
    page = scim.get("Users", startIndex=2, count=2).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 2, 2)
    assert [r["userName"] for r in page["Resources"]] == ["p1@example.com", "p2@example.com"]


def test_unknown_and_malformed_ids_are_404(scim):
    assert scim.get("Users/999999").status_code == 404
    assert scim.get("Users/not-a-number").status_code == 404
    assert scim.get("Groups/abc").status_code == 404


def test_delete_closes_the_leaver_and_keeps_the_rows(scim):
    uid = scim.post("Users", user_doc("leaver@example.com", level="mid")).json()["id"]
    assert scim.delete(f"Users/{uid}").status_code == 204
    employee = Employee.objects.get(user_id=uid)
    assert not employee.is_active and not employee.user.is_active and employee.left_on
    assert scim.get(f"Users/{uid}").status_code == 404
    assert scim.get("Users", filter='userName eq "leaver@example.com"').json()["totalResults"] == 0


def test_groups_are_teams(scim):
    uid = scim.post("Users", user_doc("m@example.com", level="mid")).json()["id"]
    made = scim.post(
        "Groups",
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Payments"},
    )
    assert made.status_code == 201, made.content
    gid = made.json()["id"]
    team = Team.objects.get(pk=gid)
    added = scim.patch(f"Groups/{gid}", {"op": "add", "path": "members", "value": [{"value": uid}]})
    assert added.status_code == 200, added.content
    assert Employee.objects.get(user_id=uid).team == team
    assert [m["value"] for m in added.json()["members"]] == [uid]
    other = TeamFactory(name="Search")
    listed = scim.get("Groups", filter='displayName eq "Search"').json()
    assert [g["id"] for g in listed["Resources"]] == [str(other.pk)]
    removed = scim.patch(f"Groups/{gid}", {"op": "remove", "path": f'members[value eq "{uid}"]'})
    assert removed.status_code == 200 and removed.json()["members"] == []
    assert Employee.objects.get(user_id=uid).team is None


def test_someone_waiting_keeps_their_team_and_manager_for_later(scim):
    boss_id = scim.post("Users", user_doc("boss2@example.com", level="Wizard")).json()["id"]
    report = scim.post(
        "Users", user_doc("rep@example.com", level="mid", manager={"value": boss_id})
    ).json()
    # the manager waits for a level: the report has no manager yet, but SCIM shows who it is
    assert Employee.objects.get(user_id=report["id"]).manager is None
    ext = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    assert report[ext]["manager"]["value"] == boss_id
    gid = scim.post("Groups", {"displayName": "Core"}).json()["id"]
    scim.patch(f"Groups/{gid}", {"op": "add", "path": "members", "value": [{"value": boss_id}]})
    assert [m["value"] for m in scim.get(f"Groups/{gid}").json()["members"]] == [boss_id]
    # HR (here the provider) gives the manager a level: both links land
    scim.patch(f"Users/{boss_id}", {"op": "add", "path": f"{ext}:level", "value": "senior"})
    boss = Employee.objects.get(user_id=boss_id)
    assert boss.team_id == int(gid)
    assert Employee.objects.get(user_id=report["id"]).manager == boss


def test_replace_members_sets_the_team_exactly(scim):
    a = scim.post("Users", user_doc("a@example.com", level="mid")).json()["id"]
    b = scim.post("Users", user_doc("b@example.com", level="mid")).json()["id"]
    gid = scim.post("Groups", {"displayName": "T", "members": [{"value": a}]}).json()["id"]
    assert Employee.objects.get(user_id=a).team_id == int(gid)
    scim.patch(f"Groups/{gid}", {"op": "replace", "path": "members", "value": [{"value": b}]})
    assert Employee.objects.get(user_id=a).team is None
    assert Employee.objects.get(user_id=b).team_id == int(gid)
    assert scim.delete(f"Groups/{gid}").status_code == 204
    assert Employee.objects.get(user_id=b).team is None


def test_what_providers_send_by_default_is_taken_or_let_go(scim):
    uid = scim.post("Users", user_doc("entra@example.com", level="mid")).json()["id"]
    response = scim.patch(
        f"Users/{uid}",
        {"op": "Replace", "path": "active", "value": "False"},  # Entra ID sends a string
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "entra2@example.com"},
        {"op": "Add", "path": "title", "value": "Engineer"},
        {"op": "Add", "path": 'addresses[type eq "work"].country', "value": "FR"},
        {"op": "replace", "value": {"displayName": "E", "name.givenName": "Eve"}},
    )
    assert response.status_code == 200, response.content
    user = Employee.objects.get(user_id=uid).user
    assert (user.is_active, user.email, user.first_name) == (False, "entra2@example.com", "Eve")
    unknown = scim.patch(f"Users/{uid}", {"op": "add", "path": "shoeSize", "value": 9})
    assert unknown.status_code == 400 and unknown.json()["scimType"] == "invalidPath"
    scim.post("Users", user_doc("taken@example.com", level="mid"))
    clash = scim.patch(
        f"Users/{uid}", {"op": "replace", "path": "emails", "value": "taken@example.com"}
    )
    assert clash.status_code == 409


def test_search_by_post(scim):
    scim.post("Users", user_doc("s1@example.com", level="mid"))
    scim.post("Users", user_doc("s2@example.com", level="mid"))
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'userName sw "s"',
    }
    found = scim.post("Users/.search?count=1", body)
    assert found.status_code == 200, found.content
    doc = found.json()
    assert (doc["totalResults"], doc["itemsPerPage"]) == (2, 1)
    bad = scim.post("Users/.search", {**body, "filter": "userName eq"})
    assert bad.status_code == 400 and bad.json()["scimType"] == "invalidFilter"


def test_an_external_id_names_one_person(scim):
    first = user_doc("x1@example.com", level="Wizard")  # waiting
    first["externalId"] = "okta-1"
    assert scim.post("Users", first).status_code == 201
    second = user_doc("x2@example.com", level="mid")
    second["externalId"] = "okta-1"
    assert scim.post("Users", second).status_code == 409
    second["externalId"] = "okta-2"
    uid = scim.post("Users", second).json()["id"]
    clash = scim.patch(f"Users/{uid}", {"op": "replace", "path": "externalId", "value": "okta-1"})
    assert clash.status_code == 409, clash.content
