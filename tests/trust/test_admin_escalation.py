"""Attacks on the admin by the people who use it: nobody below a superuser gains a power their
role does not give (a sign-in, an approver's place, money past four eyes, a control loosened)
by any admin page, the history pages included. Each hole found by a review has its test here,
beside the paths that held."""

import re
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.contrib.admin.sites import site
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.db import close_old_connections, connection
from django.db.models import F
from django.test import Client, RequestFactory
from simple_history.admin import SimpleHistoryAdmin

from approvals.manual_entries import manual_entry_post
from approvals.models import ApprovalRequest, ApprovalRule, Delegation, RequestKind, RequestState
from approvals.services import may_decide, request_decide, request_submit
from budgets.admin import BudgetAdmin
from budgets.models import Budget, LedgerEntry
from budgets.services import budget_allocate, budget_create
from common.admin import HistoryAdmin
from common.errors import AllotError
from people.models import CompanySettings, Employee, StandInRule
from people.roles import MANAGERS
from people.selectors import company_today, current_fiscal_year
from tests.factories import (
    EmployeeFactory,
    UserFactory,
    api_key,
    finance_user,
    hr_user,
    level,
    price,
)
from tests.trust.forms import form_data

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def chain():
    """An HR person with a manager (a non-staff account with a password), and an engineer."""
    boss = EmployeeFactory(user__username="boss@example.com")
    boss.user.groups.add(Group.objects.get(name=MANAGERS))
    hr = hr_user(username="hr@example.com")
    hr_employee = EmployeeFactory(user=hr, manager=boss)
    engineer = EmployeeFactory(user__username="eng@example.com", manager=boss)
    return {"boss": boss, "hr": hr, "hr_employee": hr_employee, "engineer": engineer}


def test_hr_cannot_take_over_a_managers_sign_in_by_its_email(chain):
    """HR edits a manager's email (a non-staff account, so HR may) to a mailbox HR reads, asks
    for a password reset, sets a password and signs in as the manager."""
    boss, hr = chain["boss"], chain["hr"]
    path = f"/admin/auth/user/{boss.user.pk}/change/"
    hr_client = _client(hr)
    data = form_data(path, hr, email="hr+mine@example.com")
    response = hr_client.post(path, data)
    email_changed = response.status_code == 302
    anonymous = Client()
    anonymous.post("/accounts/password_reset/", {"email": "hr+mine@example.com"})
    links = [re.search(r"/accounts/reset/\S+/", m.body) for m in mail.outbox]
    taken_over = False
    for link in filter(None, links):
        page = anonymous.get(link.group(0), follow=True)
        if page.status_code == 200 and b"new_password1" in page.content:
            anonymous.post(
                page.redirect_chain[-1][0] if page.redirect_chain else link.group(0),
                {"new_password1": "Taken-over-4242", "new_password2": "Taken-over-4242"},
            )
            boss.user.refresh_from_db()
            taken_over = boss.user.check_password("Taken-over-4242")
    assert not (email_changed and taken_over), "HR now holds the manager's sign-in"


def test_hr_cannot_give_a_person_the_email_of_a_staff_account(chain):
    """The employee creation form refuses an email someone already signs in with; the account
    page does not, so two accounts share finance's email (reset mails, API lookups by email)."""
    finance = finance_user(username="finance@example.com")
    engineer = chain["engineer"]
    path = f"/admin/auth/user/{engineer.user.pk}/change/"
    _client(chain["hr"]).post(path, form_data(path, chain["hr"], email=finance.email))
    engineer.user.refresh_from_db()
    assert engineer.user.email != finance.email


def test_hr_cannot_give_an_employee_an_agreed_budget_and_allocate_it_without_a_second_person():
    """The agreed annual budget was an ordinary field of the employee page, and 'Allocate from
    level' posts it at once: a $5M allocation by one person, past the $10k four-eyes rule."""
    hr = hr_user(username="hr2@example.com")
    newcomer = EmployeeFactory(user__username="new@example.com")
    path = f"/admin/people/employee/{newcomer.pk}/change/"
    client = _client(hr)
    response = client.post(path, form_data(path, hr, annual_budget_micros="5000000"))
    assert response.status_code == 302, response.content[:2000]
    client.post(
        "/admin/people/employee/",
        {"action": "allocate_from_level", "_selected_action": [str(newcomer.pk)]},
    )
    newcomer.refresh_from_db()
    budget = Budget.objects.get(employee=newcomer, fiscal_year=current_fiscal_year())
    assert newcomer.annual_budget_micros is None
    assert budget.allocated_micros <= newcomer.level.default_annual_budget_micros


def test_hr_adds_an_employee_at_the_levels_budget_only():
    hr = hr_user(username="hr-add@example.com")
    form = form_data("/admin/people/employee/add/", hr)
    assert "annual_budget_micros" not in form
    response = _client(hr).post(
        "/admin/people/employee/add/",
        {
            **form,
            "email": "newhire@example.com",
            "first_name": "New",
            "last_name": "Hire",
            "level": str(level("mid").pk),
            "hire_date": "2026-01-05",
            "annual_budget_micros": "5000000",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    assert Employee.objects.get(user__email="newhire@example.com").annual_budget_micros is None


def test_hr_cannot_raise_their_own_agreed_budget(chain):
    hr, me = chain["hr"], chain["hr_employee"]
    path = f"/admin/people/employee/{me.pk}/change/"
    _client(hr).post(path, form_data(path, hr, annual_budget_micros="900000"))
    me.refresh_from_db()
    assert me.annual_budget_micros is None


def test_hr_cannot_make_themselves_a_managers_stand_in(chain):
    """The admin's Delegation page lets HR name any delegator and itself as the delegate."""

    settings_row = CompanySettings.objects.get_or_create(pk=1)[0]
    settings_row.delegation_stand_ins = StandInRule.ANYONE_AT_LEVEL  # HR's own setting
    settings_row.save()
    hr, boss, engineer = chain["hr"], chain["boss"], chain["engineer"]

    today = company_today()
    _client(hr).post(
        "/admin/approvals/delegation/add/",
        {
            "delegator": boss.user.pk,
            "delegate": hr.pk,
            "starts_on": today.isoformat(),
            "ends_on": today.isoformat(),
            "reason": "",
        },
    )
    request = request_submit(
        kind=RequestKind.INCREASE,
        requester=engineer.user,
        employee=engineer,
        amount_micros=1_000 * 10**6,
        reason="more",
    )

    step = request.steps.get(index=0)
    assert not may_decide(step, hr)[0], "HR decides for the manager without the manager"


def test_small_manual_entries_add_up_past_the_threshold():
    hr = hr_user(username="hr3@example.com")
    engineer = EmployeeFactory(user__username="e3@example.com")
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=engineer)
    client = _client(hr)
    for _ in range(5):
        client.post(
            "/admin/budgets/ledgerentry/add/",
            {"budget": budget.pk, "kind": "allocation", "amount": "9999", "memo": "split"},
        )
    budget.refresh_from_db()
    posted = LedgerEntry.objects.filter(budget=budget, memo="split").count()
    assert budget.allocated_micros <= 10_000 * 10**6, (
        f"{posted} entries, ${budget.allocated_micros / 10**6:,.0f} by one person alone"
    )


# --- django-simple-history's "revert" page saves on POST for anyone who may VIEW the object;
# it also saves the historical row whole, read-only fields included.


def _history_url(obj, admin_name: str, version=None) -> str:
    version = version or obj.history.earliest()
    return f"/admin/{admin_name}/{obj.pk}/history/{version.history_id}/"


def test_finance_who_only_views_employees_cannot_change_an_agreed_budget_through_history():
    finance = finance_user(username="fin-h@example.com")
    engineer = EmployeeFactory(user__username="e-h@example.com")
    url = _history_url(engineer, "people/employee")
    response = _client(finance).post(
        url, form_data(url, finance, annual_budget_micros="5000000", level=str(engineer.level_id))
    )
    engineer.refresh_from_db()
    assert engineer.annual_budget_micros is None, (response.status_code, "finance edited it")


def test_hr_who_only_views_prices_cannot_change_a_price_through_history():

    hr = hr_user(username="hr-p@example.com")
    row = price("gpt-x")
    url = _history_url(row, "budgets/tokenprice")
    data = form_data(url, hr, input_per_million_micros="0", output_per_million_micros="0")
    response = _client(hr).post(url, data)
    row.refresh_from_db()
    assert row.input_per_million_micros == 3 * 10**6, (response.status_code, "HR set the price")


def test_a_revert_of_company_settings_does_not_loosen_the_superusers_threshold():

    settings_row = CompanySettings.objects.get_or_create(pk=1)[0]  # the $10,000 default
    settings_row.save()  # a version with the default, as any earlier edit of the page makes
    first = settings_row.history.latest()
    settings_row.manual_entry_approval_above_micros = 1_000 * 10**6  # a superuser tightens it
    settings_row.save()
    hr = hr_user(username="hr-s@example.com")
    url = _history_url(settings_row, "people/companysettings", first)
    response = _client(hr).post(url, form_data(url, hr))
    settings_row.refresh_from_db()
    assert settings_row.manual_entry_approval_above_micros == 1_000 * 10**6, (
        response.status_code,
        "HR put the threshold back to $10,000",
    )


# --- manual entries: paths that held (kept as regression tests)


def _manual(budget, amount_micros, user, kind="adjustment"):

    return manual_entry_post(
        budget=budget, kind=kind, amount_micros=amount_micros, memo="review", acting_user=user
    )


def test_a_large_take_back_approved_after_the_budget_shrank_is_refused_and_stays_open():

    hr, finance = hr_user(username="hr-n@example.com"), finance_user(username="f-n@example.com")
    budget, _ = budget_create(
        fiscal_year=current_fiscal_year(), employee=EmployeeFactory(user__username="o@x.com")
    )
    budget_allocate(budget=budget, amount_micros=50_000 * 10**6, acting_user=None)
    request = _manual(budget, -40_000 * 10**6, hr)
    assert isinstance(request, ApprovalRequest)
    _manual(budget, -9_000 * 10**6, hr_user(username="hr-n2@example.com"))  # posted at once
    _manual(budget, -9_000 * 10**6, hr_user(username="hr-n3@example.com"))  # now $32,000
    with pytest.raises(AllotError):
        request_decide(request=request, user=finance, approve=True)
    request.refresh_from_db()
    budget.refresh_from_db()
    assert request.state == RequestState.IN_REVIEW
    assert budget.allocated_micros == 32_000 * 10**6


def test_the_author_in_finance_and_the_owner_in_finance_cannot_decide():

    author = finance_user(username="f-a@example.com")
    owner_user = finance_user(username="f-o@example.com")
    owner = EmployeeFactory(user=owner_user)
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=owner)
    request = _manual(budget, 50_000 * 10**6, author, kind="allocation")
    step = request.steps.get()
    assert not may_decide(step, author)[0]
    assert not may_decide(step, owner_user)[0]
    assert may_decide(step, finance_user(username="f-3@example.com"))[0]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_finance_approvals_at_once_post_a_manual_entry_once():

    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent PostgreSQL sessions")
    hr = hr_user(username="hr-r@example.com")
    one, two = finance_user(username="f-r1@example.com"), finance_user(username="f-r2@example.com")
    budget, _ = budget_create(
        fiscal_year=current_fiscal_year(), employee=EmployeeFactory(user__username="r@x.com")
    )
    request = _manual(budget, 60_000 * 10**6, hr, kind="allocation")
    barrier = Barrier(2)

    def decide(user):
        barrier.wait()
        try:
            return request_decide(request=request, user=user, approve=True).state
        except AllotError as error:
            return error.message
        finally:
            close_old_connections()
            connection.close()

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(decide, [one, two]))
    budget.refresh_from_db()
    assert RequestState.APPROVED in outcomes, outcomes
    assert budget.allocated_micros == 60_000 * 10**6, outcomes


def test_hr_cannot_edit_their_own_reporting_line(chain):
    hr, me, engineer = chain["hr"], chain["hr_employee"], chain["engineer"]
    path = f"/admin/people/employee/{me.pk}/change/"
    _client(hr).post(path, form_data(path, hr, manager=str(engineer.pk)))
    me.refresh_from_db()
    assert me.manager_id == chain["boss"].pk, "HR chose who approves HR's own requests"


def test_account_paths_that_held(chain):
    """Probes that HR or finance gain nothing through the other account URLs."""

    User = get_user_model()
    hr, boss = chain["hr"], chain["boss"]
    finance = finance_user(username="fin-probe@example.com")
    root = UserFactory(username="root-p@example.com", is_staff=True, is_superuser=True)
    client = _client(hr)
    assert client.get(f"/admin/auth/user/{root.pk}/password/").status_code == 403
    assert (
        client.post(
            f"/admin/auth/user/{boss.user.pk}/password/",
            {"password1": "Xx-123456789", "password2": "Xx-123456789"},
        ).status_code
        == 403
    )
    client.post(
        "/admin/auth/user/",
        {"action": "delete_selected", "_selected_action": [str(boss.user.pk)], "post": "yes"},
    )
    assert User.objects.filter(pk=boss.user.pk).exists()
    assert client.get(f"/admin/auth/user/{boss.user.pk}/delete/").status_code == 403
    assert client.get("/admin/auth/group/").status_code == 403
    # a staff account is read-only to HR, whatever the POST holds
    url = f"/admin/auth/user/{finance.pk}/change/"
    client.post(
        url,
        {
            "username": finance.username,
            "email": "hr+f@example.com",
            "first_name": "x",
            "last_name": "y",
            "is_active": "",
        },
    )
    finance.refresh_from_db()
    assert (finance.email, finance.is_active) == ("fin-probe@example.com", True)
    # the employee form refuses a staff user's email in any case

    response = client.post(
        "/admin/people/employee/add/",
        {
            "email": "FIN-PROBE@example.com ",
            "first_name": "a",
            "last_name": "b",
            "level": level().pk,
            "hire_date": "2026-01-05",
            "budgets-TOTAL_FORMS": "0",
            "budgets-INITIAL_FORMS": "0",
        },
    )
    assert (
        response.status_code == 200
        and User.objects.filter(email__iexact="fin-probe@example.com").count() == 1
    )
    # the employee's sign-in is read-only to HR
    url = f"/admin/people/employee/{boss.pk}/change/"
    client.post(url, form_data(url, hr, user=str(hr.pk)))
    boss.refresh_from_db()
    assert boss.user_id != hr.pk
    # finance has no account page at all
    assert _client(finance).get(f"/admin/auth/user/{boss.user.pk}/change/").status_code == 403
    # HR still does its real job: a non-staff person's name, email and active flag
    url = f"/admin/auth/user/{chain['engineer'].user.pk}/change/"
    client.post(url, form_data(url, hr, first_name="Renamed", email="renamed@example.com"))
    chain["engineer"].user.refresh_from_db()
    assert chain["engineer"].user.first_name == "Renamed"


def test_hr_cannot_reroute_the_four_eyes_rule_of_manual_entries():

    rule = ApprovalRule.objects.get(kind=RequestKind.LEDGER_ENTRY, max_amount_micros=None)
    hr = hr_user(username="hr-rule@example.com")
    url = f"/admin/approvals/approvalrule/{rule.pk}/change/"
    response = _client(hr).post(url, form_data(url, hr, steps='["hr"]'))
    rule.refresh_from_db()
    assert rule.steps == ["finance"], (response.status_code, rule.steps)


def test_the_api_answers_when_the_shared_cache_is_down(settings):
    """Production: django-redis with IGNORE_EXCEPTIONS. Nothing listens on port 1."""

    settings.DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/2",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    engineer = EmployeeFactory(user__username="api-e@example.com")
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=engineer)
    budget_allocate(budget=budget, amount_micros=100 * 10**6, acting_user=None)
    key = api_key()
    response = Client().post(
        "/api/v1/authorize/",
        {"employee": engineer.user.email, "estimated_cost_usd": "1.00"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
    )
    assert response.status_code == 200, response.content
    assert response.json()["allowed"] is True


def test_an_admin_save_of_a_budget_does_not_write_its_running_totals():
    """Usage that lands between the admin reading a budget and saving its rules is kept (the
    page used to save the whole row, totals read when it opened included)."""
    # given a budget whose page an HR person opened
    hr = hr_user(username="hr-b@example.com")
    budget, _ = budget_create(
        fiscal_year=current_fiscal_year(), employee=EmployeeFactory(user__username="b@x.com")
    )
    admin_page = BudgetAdmin(Budget, site)
    request = RequestFactory().post("/")
    request.user = hr
    opened = admin_page.get_object(request, str(budget.pk))
    form = admin_page.get_form(request, opened, change=True)(
        {"enforcement": "hard", "overdraft_percent": "0", "alert_thresholds": "null"},
        instance=opened,
    )
    assert form.is_valid(), form.errors

    # when usage is posted meanwhile, then HR saves the page
    Budget.objects.filter(pk=budget.pk).update(spent_micros=F("spent_micros") + 7 * 10**6)
    admin_page.save_model(request, form.save(commit=False), form, change=True)

    # then the rule changed and the usage is still counted
    budget.refresh_from_db()
    assert budget.enforcement == "hard"
    assert budget.spent_micros == 7 * 10**6, "the concurrent usage was overwritten"


def test_every_admin_with_history_lets_it_be_read_and_never_written_back():
    with_history = [m for m in site._registry.values() if isinstance(m, SimpleHistoryAdmin)]

    assert len(with_history) > 10
    assert [type(m).__name__ for m in with_history if not isinstance(m, HistoryAdmin)] == []


def test_frames_and_team_pages_that_held(chain):
    engineer, boss = chain["engineer"], chain["boss"]
    other = EmployeeFactory(user__username="other-t@example.com")
    client = _client(engineer.user)
    assert client.get(f"/team/{other.pk}/").status_code == 404
    assert client.get("/team/987654/").status_code == 404
    assert client.get(f"/team/{boss.pk}/").status_code == 404  # above you is not yours
    assert _client(boss.user).get(f"/team/{engineer.pk}/").status_code == 200
    finance = finance_user(username="fin-x@example.com")
    page = _client(finance).get("/admin/reporting/productivitymetric/export/")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]
    assert page["X-Frame-Options"] == "DENY"
    assert b" onchange=" not in page.content and b"<script>" not in page.content


def test_hr_cannot_make_themselves_a_stand_in_under_the_default_policy_either(chain):
    """Default policy (a manager at the approver's level): HR first makes itself someone's
    manager on the employee page, then names itself the manager's stand-in."""

    hr, boss = chain["hr"], chain["boss"]
    junior = EmployeeFactory(user__username="junior@example.com", manager=boss)
    client = _client(hr)
    path = f"/admin/people/employee/{junior.pk}/change/"
    client.post(path, form_data(path, hr, manager=str(chain["hr_employee"].pk)))
    today = company_today().isoformat()
    client.post(
        "/admin/approvals/delegation/add/",
        {"delegator": boss.user.pk, "delegate": hr.pk, "starts_on": today, "ends_on": today},
    )
    assert not Delegation.objects.filter(delegator=boss.user, delegate=hr).exists()
