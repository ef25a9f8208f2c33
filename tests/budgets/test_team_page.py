"""The manager's /team/ page and its CSV: people, team pools, project allocations, totals as the
sum of the rows shown, sorting, permissions, and people with the same name told apart."""

import csv
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from budgets.authorize import authorize
from budgets.services import budget_allocate, budget_create, budget_transfer
from budgets.usage import usage_ingest
from people.models import Transparency
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory, ProjectFactory, TeamFactory, hr_user

pytestmark = pytest.mark.django_db

DOLLAR = 10**6


def _spend(email: str, event_id: str, cost: str, project: str | None = None) -> None:
    event = {
        "id": event_id,
        "employee": email,
        "model": "claude-sonnet-4",
        "input_tokens": 10,
        "output_tokens": 10,
        "cost_usd": cost,
        "occurred_at": timezone.now().isoformat(),
    }
    if project:
        event["project"] = project
    result = usage_ingest(events=[event])
    assert result.accepted == 1, result.rejected


def _funded(amount_usd: int, **owner):
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), **owner)
    budget_allocate(budget=budget, amount_micros=amount_usd * DOLLAR, acting_user=None)
    return budget


@pytest.fixture
def org():
    """Given a manager who leads the Web team (with a pool), a direct report Ada who leads a
    project, Bob below Ada, and another team's manager with her own report."""
    web = TeamFactory(name="Web", has_pool=True)
    manager = EmployeeFactory(user__email="boss@example.com", user__first_name="Grace",
                              user__last_name="Hopper", team=web)  # fmt: skip
    web.lead = manager
    web.save()
    ada = EmployeeFactory(user__email="ada@example.com", user__first_name="Ada",
                          user__last_name="Lovelace", manager=manager, team=web)  # fmt: skip
    bob = EmployeeFactory(user__email="bob@example.com", user__first_name="Bob",
                          user__last_name="Babbage", manager=ada, team=web)  # fmt: skip
    other = EmployeeFactory(user__email="other-boss@example.com")
    EmployeeFactory(user__email="other-eng@example.com", manager=other)
    project = ProjectFactory(code="search", name="Search", lead=ada)
    project.members.add(bob)
    _funded(100_000, employee=ada)
    _funded(50_000, employee=bob)
    pool = _funded(20_000, team=web)
    project_budget = _funded(30_000, project=project)
    # Money moved from the pool to the project: counted once, under the project.
    budget_transfer(
        source=pool, destination=project_budget, amount_micros=5_000 * DOLLAR, acting_user=None
    )
    _spend("ada@example.com", "a1", "1234.50")
    _spend("bob@example.com", "b1", "2000")
    _spend("bob@example.com", "b2", "700.25", project="search")
    authorize(employee=ada, estimated_cost_micros=10 * DOLLAR, reserve=True, hold_seconds=600)
    return {"manager": manager, "ada": ada, "bob": bob, "other": other, "web": web}


def _page(client, user, **query):
    client.force_login(user)
    response = client.get(reverse("team"), query)
    assert response.status_code == 200, response.content[:300]
    return response


def _section(response, key):
    return next(s for s in response.context["page"].sections if s.key == key)


def test_the_three_sections_show_each_budget_with_its_figures(client, org):
    # When the manager opens the team page
    response = _page(client, org["manager"].user)
    people = _section(response, "people")
    pools = _section(response, "team pools")
    projects = _section(response, "projects")
    # Then each section shows its budgets with allocated, spent, held and left
    assert [(r.name, r.allocated, r.spent, r.held, r.left) for r in people.rows] == [
        ("Ada Lovelace", "$100,000.00", "$1,234.50", "$10.00", "$98,755.50"),
        ("Bob Babbage", "$50,000.00", "$2,000.00", "$0.00", "$48,000.00"),
    ]
    assert [(r.name, r.allocated, r.spent, r.left) for r in pools.rows] == [
        ("Web", "$15,000.00", "$0.00", "$15,000.00")
    ]
    assert [(r.name, r.allocated, r.spent, r.left, r.used) for r in projects.rows] == [
        ("search: Search", "$35,000.00", "$700.25", "$34,299.75", Decimal("2.00"))
    ]
    page = response.content.decode()
    assert "via Ada Lovelace" in page and "Each dollar is counted once" in page


def test_totals_are_the_sum_of_the_rows_and_the_grand_total_counts_each_dollar_once(client, org):
    response = _page(client, org["manager"].user)
    page = response.context["page"]
    for section in page.sections:
        rows = [r.balance for r in section.rows if r.balance]
        assert section.total.complete
        assert section.total.allocated_micros == sum(b.allocated_micros for b in rows)
        assert section.total.spent_micros == sum(b.spent_micros for b in rows)
        assert section.total.reserved_micros == sum(b.reserved_micros for b in rows)
        assert section.total.remaining_micros == sum(b.remaining_micros for b in rows)
    grand = page.grand_total
    # 100k + 50k personal, 20k pool less the 5k moved, 30k project plus the 5k: 200k in all
    assert grand.allocated_micros == 200_000 * DOLLAR
    assert grand.allocated_micros == sum(s.total.allocated_micros for s in page.sections)
    assert grand.spent_micros == Decimal("3934.75") * DOLLAR
    assert "$200,000.00 allocated, $3,934.75 spent, $10.00 held" in response.content.decode()


def test_sorting_goes_both_ways_with_links_and_ignores_unknown_keys(client, org):
    def names(response):
        return [r.name for r in _section(response, "people").rows]

    ascending = _page(client, org["manager"].user, sort="spent")
    descending = _page(client, org["manager"].user, sort="-spent")
    assert names(ascending) == ["Ada Lovelace", "Bob Babbage"]
    assert names(descending) == ["Bob Babbage", "Ada Lovelace"]
    assert names(_page(client, org["manager"].user, sort="-name")) == [
        "Bob Babbage",
        "Ada Lovelace",
    ]
    assert names(_page(client, org["manager"].user, sort="-left")) == [
        "Ada Lovelace",
        "Bob Babbage",
    ]
    # The current column says so, and its link sorts the other way
    html = ascending.content.decode()
    assert 'aria-sort="ascending"><a href="?sort=-spent">Spent' in html
    assert 'aria-sort="descending"><a href="?sort=spent">Spent' in descending.content.decode()
    # An unknown key is ignored: the page's own order, no error
    unknown = _page(client, org["manager"].user, sort="-salary);drop")
    assert names(unknown) == ["Ada Lovelace", "Bob Babbage"]
    assert "aria-sort" not in unknown.content.decode()


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_the_csv_has_the_pages_rows_in_its_order_with_exact_dollars(client, org):
    client.force_login(org["manager"].user)
    response = client.get(reverse("team_export"), {"sort": "-spent"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = _csv(response)
    assert lines[0][:9] == [
        "section", "name", "email", "team", "allocated_usd", "spent_usd", "held_usd",
        "left_usd", "percent_used",
    ]  # fmt: skip
    page = _page(client, org["manager"].user, sort="-spent").context["page"]
    shown = [(s.key, r.name) for s in page.sections for r in s.rows]
    in_csv = [(line[0], line[1]) for line in lines[1:] if not line[1].startswith("Total")]
    assert in_csv == shown
    by_name = {line[1]: line for line in lines[1:]}
    assert by_name["Ada Lovelace"][2:9] == [
        "ada@example.com", "Web", "100000.00", "1234.50", "10.00", "98755.50", "1.23",
    ]  # fmt: skip
    assert by_name["search: Search"][4:8] == ["35000.00", "700.25", "0.00", "34299.75"]
    grand = lines[-1]
    assert grand[0] == "all sections" and grand[4:6] == ["200000.00", "3934.75"]


def test_csv_cells_are_formula_safe(client, org):
    EmployeeFactory(user__first_name="=HYPERLINK(1)", user__last_name="x", manager=org["manager"])
    client.force_login(org["manager"].user)
    lines = _csv(client.get(reverse("team_export")))
    assert "'=HYPERLINK(1) x" in [line[1] for line in lines]


def test_an_engineer_gets_403_and_another_manager_cannot_see_this_team(client, org):
    client.force_login(org["bob"].user)  # no reports
    assert client.get(reverse("team")).status_code == 403
    assert client.get(reverse("team_export")).status_code == 403
    client.force_login(org["other"].user)
    mine = client.get(reverse("team"))
    assert mine.status_code == 200 and "Ada Lovelace" not in mine.content.decode()
    theirs = {"manager": org["manager"].pk}
    assert client.get(reverse("team"), theirs).status_code == 404
    assert client.get(reverse("team_export"), theirs).status_code == 404
    for bad_id in ("boss", "²", "9" * 30):
        bad = client.get(reverse("team"), {"manager": bad_id})
        assert bad.status_code == 400 and b"manager" in bad.content
    client.force_login(org["bob"].user)
    assert client.get(reverse("team"), {"manager": ""}).status_code == 403


def test_hr_chooses_a_team_and_a_manager_sees_a_team_below_them(client, org):
    hr = hr_user()
    client.force_login(hr)
    chooser = client.get(reverse("team"))
    assert chooser.status_code == 200
    assert "Grace Hopper (boss@example.com)" in chooser.content.decode()
    response = _page(client, hr, manager=org["manager"].pk)
    assert [r.name for r in _section(response, "people").rows] == ["Ada Lovelace", "Bob Babbage"]
    assert client.get(reverse("team_export"), {"manager": org["manager"].pk}).status_code == 200
    # Grace may open Ada's team (Ada reports to her): Bob and Ada's project
    ada_team = _page(client, org["manager"].user, manager=org["ada"].pk)
    assert [r.name for r in _section(ada_team, "people").rows] == ["Bob Babbage"]
    assert [r.name for r in _section(ada_team, "projects").rows] == ["search: Search"]


def test_hidden_amounts_are_not_totalled_as_if_seen(client, org):
    # Given Bob moved to a team whose amounts are abstracted for managers
    hidden = TeamFactory(name="Quiet", transparency=Transparency.ABSTRACTED)
    org["bob"].team = hidden
    org["bob"].save()
    response = _page(client, org["manager"].user)
    people = _section(response, "people")
    assert people.total.complete is False and people.total.counted == 1
    assert people.total.allocated_micros == 100_000 * DOLLAR  # Ada's only
    assert people.total.label == "Total of the 1 of 2 rows you can see in dollars"
    assert not response.context["page"].grand_total.complete
    html = response.content.decode()
    assert "amounts hidden" in html and "$50,000.00" not in html
    # and the CSV hides Bob's dollars too
    lines = _csv(client.get(reverse("team_export")))
    bob = next(line for line in lines if line[1] == "Bob Babbage")
    assert bob[4:8] == ["", "", "", ""] and bob[-1] == "share used only"


def test_people_with_the_same_name_are_told_apart_by_email(client, org):
    for n in (1, 2):
        EmployeeFactory(user__email=f"ada.turing{n}@example.com", user__first_name="Ada",
                        user__last_name="Turing", manager=org["manager"])  # fmt: skip
    html = _page(client, org["manager"].user).content.decode()
    assert "Ada Turing (ada.turing1@example.com)" in html
    assert "Ada Turing (ada.turing2@example.com)" in html
    assert "Ada Lovelace (ada@example.com)" not in html  # a unique name stays short


def test_the_page_costs_the_same_queries_for_three_reports_or_thirteen(client, org):
    client.force_login(org["manager"].user)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("team"), {"sort": "-used"}).status_code == 200
        return len(captured)

    small = queries()
    for _ in range(10):
        _funded(1_000, employee=EmployeeFactory(manager=org["ada"], team=org["web"]))
    assert queries() == small


def test_hr_and_finance_find_the_teams_page_in_the_menu(client):
    from tests.factories import finance_user, hr_user  # only this test signs in as staff

    for user in (hr_user(), finance_user()):
        client.force_login(user)
        page = client.get(reverse("company")).content.decode()
        assert f'href="{reverse("team")}">Teams</a>' in page
