"""HR's admin: every page renders for HR and is refused to an engineer; money moves only by
new ledger entries."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from budgets.models import Budget, EntryKind, LedgerEntry, TokenPrice, UsageEvent
from budgets.services import (
    budget_allocate,
    budget_create,
    level_allocation_key,
)
from budgets.usage import usage_post
from people.models import CompanySettings, Department, Employee, Level, Project, Team
from people.selectors import current_fiscal_year, fiscal_year_period
from tests.factories import (
    BudgetFactory,
    EmployeeFactory,
    ProjectFactory,
    UserFactory,
    finance_user,
    hr_user,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def objects():
    employee = EmployeeFactory()
    project = ProjectFactory(lead=employee)
    project.members.add(employee)
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=employee)
    entry = budget_allocate(budget=budget, amount_micros=10**9, acting_user=None)
    price = TokenPrice.objects.create(
        model_name="m",
        input_per_million_micros=1,
        output_per_million_micros=2,
        effective_from="2020-01-01T00:00:00Z",
    )
    event, _ = usage_post(
        employee=employee,
        event_id="e1",
        model_name="m",
        occurred_at=timezone.now(),
        input_tokens=1_000,
        output_tokens=10,
    )
    return {
        UsageEvent: event,
        Level: Level.objects.first(),
        Department: employee.team.department,
        Team: employee.team,
        Employee: employee,
        Project: project,
        CompanySettings: CompanySettings.objects.get(pk=1),
        Budget: budget,
        LedgerEntry: entry,
        TokenPrice: price,
    }


MODELS = [
    Level,
    Department,
    Team,
    Employee,
    Project,
    CompanySettings,
    Budget,
    LedgerEntry,
    TokenPrice,
]


def admin_urls(model, obj):
    opts = model._meta
    urls = [reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")]
    urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
    if model not in (CompanySettings,):
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[obj.pk]))
    return urls


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_hr_sees_the_changelist_and_the_change_form(client, objects, model):
    client.force_login(hr_user())
    for url in admin_urls(model, objects[model]):
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        assert b"Allot administration" in response.content


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_an_engineer_is_refused_every_admin_page(client, objects, model):
    engineer = EmployeeFactory().user
    client.force_login(engineer)
    for url in admin_urls(model, objects[model]):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_staff_without_a_role_is_forbidden(client, objects, model):
    client.force_login(UserFactory(is_staff=True))
    url = admin_urls(model, objects[model])[0]
    assert client.get(url).status_code == 403


def test_the_add_forms_render_for_hr(client, objects):
    client.force_login(hr_user())
    for name in ["people_level", "people_employee", "people_project", "budgets_budget"]:
        assert client.get(reverse(f"admin:{name}_add")).status_code == 200, name
    assert client.get(reverse("admin:budgets_ledgerentry_add")).status_code == 200


def test_ledger_entries_have_no_edit_or_delete_in_the_admin(client, objects):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    entry = objects[LedgerEntry]
    change = client.get(reverse("admin:budgets_ledgerentry_change", args=[entry.pk]))
    assert b'name="_save"' not in change.content
    delete = client.post(
        reverse("admin:budgets_ledgerentry_delete", args=[entry.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def test_hr_corrects_a_budget_by_posting_an_adjustment(client, objects):
    hr = hr_user()
    client.force_login(hr)
    budget = objects[Budget]
    response = client.post(
        reverse("admin:budgets_ledgerentry_add"),
        {"budget": budget.pk, "kind": EntryKind.ADJUSTMENT, "amount": "-250.50", "memo": "typo"},
    )
    assert response.status_code == 302
    entry = LedgerEntry.objects.get(kind=EntryKind.ADJUSTMENT)
    assert entry.amount_micros == -250_500_000 and entry.acting_user == hr
    budget.refresh_from_db()
    assert budget.allocated_micros == 10**9 - 250_500_000


def test_an_adjustment_past_the_allocation_is_shown_on_the_form(client, objects):
    client.force_login(hr_user())
    response = client.post(
        reverse("admin:budgets_ledgerentry_add"),
        {
            "budget": objects[Budget].pk,
            "kind": EntryKind.ADJUSTMENT,
            "amount": "-5000",
            "memo": "x",
        },
    )
    assert response.status_code == 200
    assert b"cannot take it below zero" in response.content
    assert not LedgerEntry.objects.filter(kind=EntryKind.ADJUSTMENT).exists()


@pytest.mark.parametrize("amount", ["1_000", "1e3", "١٠٠٠"])
def test_an_amount_that_is_not_a_plain_decimal_is_refused_on_the_form(client, objects, amount):
    # given HR allocating money in the admin
    client.force_login(hr_user())

    # when the amount is one Python's Decimal() would read as 1,000
    response = client.post(
        reverse("admin:budgets_ledgerentry_add"),
        {"budget": objects[Budget].pk, "kind": EntryKind.ALLOCATION, "amount": amount},
    )

    # then the form says so and nothing is posted
    assert response.status_code == 200
    assert b"is not a decimal amount" in response.content
    assert LedgerEntry.objects.filter(kind=EntryKind.ALLOCATION).count() == 1  # the fixture's


def test_hr_adds_an_employee_and_their_sign_in_in_one_form(client, objects):
    client.force_login(hr_user())
    team = objects[Team]
    response = client.post(
        reverse("admin:people_employee_add"),
        {
            "email": "New.Person@example.com",
            "first_name": "New",
            "last_name": "Person",
            "level": Level.objects.get(name="senior").pk,
            "team": team.pk,
            "manager": objects[Employee].pk,
            "hire_date": "2026-03-02",
            "budgets-TOTAL_FORMS": "0",
            "budgets-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    employee = Employee.objects.get(user__email="new.person@example.com")
    assert not employee.user.has_usable_password()
    assert employee.manager.user.groups.filter(name="Managers").exists()
    assert employee.user.groups.filter(name="Engineers").exists()


def test_allocate_from_level_action_is_once_per_year_and_prorated(client, objects, settings):
    client.force_login(hr_user())
    year = current_fiscal_year()
    joiner = EmployeeFactory(hire_date=date(year, 7, 1))
    veteran = EmployeeFactory(hire_date=date(2019, 1, 1))
    data = {"action": "allocate_from_level", "_selected_action": [joiner.pk, veteran.pk]}

    url = reverse("admin:people_employee_changelist")
    client.post(url, data)
    client.post(url, data)

    veteran_entry = LedgerEntry.objects.get(
        idempotency_key=level_allocation_key(employee=veteran, fiscal_year=year)
    )
    joiner_entry = LedgerEntry.objects.get(
        idempotency_key=level_allocation_key(employee=joiner, fiscal_year=year)
    )
    assert veteran_entry.amount_micros == 100_000 * 10**6
    assert 0 < joiner_entry.amount_micros < 100_000 * 10**6
    assert LedgerEntry.objects.filter(kind=EntryKind.ALLOCATION).count() == 3  # + the fixture's


def test_finance_can_set_prices_but_not_edit_employees(client, objects):
    client.force_login(finance_user())
    assert client.get(reverse("admin:budgets_tokenprice_add")).status_code == 200
    employee = objects[Employee]
    change = client.get(reverse("admin:people_employee_change", args=[employee.pk]))
    assert change.status_code == 200 and b'name="_save"' not in change.content
    assert client.get(reverse("admin:people_employee_add")).status_code == 403


def test_history_records_who_changed_a_level(client, objects):
    hr = hr_user()
    client.force_login(hr)
    level = Level.objects.get(name="mid")
    client.post(
        reverse("admin:people_level_change", args=[level.pk]),
        {"name": "mid", "rank": level.rank, "default_annual_budget_micros": "120000"},
    )
    level.refresh_from_db()
    assert level.default_annual_budget_micros == 120_000 * 10**6
    assert level.history.first().history_user == hr


def test_budget_factory_budget_renders(client):
    client.force_login(hr_user())
    budget = BudgetFactory()
    assert client.get(reverse("admin:budgets_budget_change", args=[budget.pk])).status_code == 200


def test_the_employee_page_shows_every_budget_that_can_serve_them(client, objects):
    client.force_login(hr_user())
    employee = objects[Employee]
    year = current_fiscal_year()
    personal, _ = budget_create(fiscal_year=year, employee=employee)
    budget_allocate(budget=personal, amount_micros=100_000 * 10**6, acting_user=None)
    project_budget, _ = budget_create(fiscal_year=year, project=objects[Project])
    budget_allocate(budget=project_budget, amount_micros=5_000 * 10**6, acting_user=None)

    page = client.get(reverse("admin:people_employee_change", args=[employee.pk])).content.decode()

    assert "Balance this fiscal year" in page
    assert "Project allocation" in page and "$5,000.00" in page
    # the fixture allocated $1,000 to this year's personal budget already
    assert "$101,000.00" in page and "1,010,000,000" in page  # tokens at $0.0001


def test_the_all_entries_links_of_the_employee_and_budget_pages_open(client, objects):
    # Given HR on an employee's page and a budget's page, each with an "All entries" link
    client.force_login(hr_user())
    employee, budget = objects[Employee], objects[Budget]
    pages = [
        reverse("admin:people_employee_change", args=[employee.pk]),
        reverse("admin:budgets_budget_change", args=[budget.pk]),
    ]
    for page in pages:
        content = client.get(page).content.decode()
        start = content.index('href="/admin/budgets/ledgerentry/?')
        link = content[start + len('href="') : content.index('"', start + len('href="'))]
        # When HR follows it; then the filtered list, not a 400 DisallowedModelAdminLookup
        response = client.get(link.replace("&amp;", "&"))
        assert response.status_code == 200, link
        assert (
            response.context["cl"].result_count == LedgerEntry.objects.filter(budget=budget).count()
        )
        assert response.context["cl"].result_count >= 1


def test_a_level_band_shows_its_money_as_grouped_dollars_and_takes_them_back(client, objects):
    # Given a level of $90,000; when HR opens it; then 90,000.00 in the field, never 9E+4
    level = objects[Level]
    Level.objects.filter(pk=level.pk).update(default_annual_budget_micros=90_000 * 10**6)
    client.force_login(hr_user())
    url = reverse("admin:people_level_change", args=[level.pk])
    response = client.get(url)
    content = response.content.decode()
    assert 'value="90,000.00"' in content
    assert "E+" not in content
    # When HR saves the form as shown but for the band, typed the same way
    data = {
        name: value
        for name, value in response.context["adminform"].form.initial.items()
        if value is not None
    }
    data["default_annual_budget_micros"] = "150,000.00"
    saved = client.post(url, data)
    # Then the band is $150,000 exactly
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    level.refresh_from_db()
    assert level.default_annual_budget_micros == 150_000 * 10**6


def test_read_only_money_on_the_company_settings_shows_dollars_not_micro_units(client, objects):
    # Given a control HR may read but not change (a superuser's), of $10,000
    CompanySettings.objects.filter(pk=1).update(manual_entry_approval_above_micros=10**10)
    client.force_login(hr_user())
    # When HR opens the company settings
    content = client.get(reverse("admin:people_companysettings_change", args=[1])).content.decode()
    # Then it reads $10,000.00, not 10,000,000,000 micro-units
    assert "$10,000.00" in content
    assert "10,000,000,000" not in content and "10000000000" not in content


def test_a_hire_starting_next_year_gets_next_years_budget_not_this_years_advice(client, db):
    # Given a hire who starts in the next fiscal year and already has that year's budget
    start_year = current_fiscal_year() + 1
    employee = EmployeeFactory(hire_date=fiscal_year_period(start_year).start + timedelta(days=14))
    budget, _ = budget_create(fiscal_year=start_year, employee=employee)
    budget_allocate(budget=budget, amount_micros=90_000 * 10**6, acting_user=None)
    # When HR opens their page
    client.force_login(hr_user())
    content = client.get(reverse("admin:people_employee_change", args=[employee.pk])).content
    text = content.decode()
    # Then their year's budget, and no advice to allocate this year's
    assert 'use the action "Allocate' not in text and "use the action &quot;Allocate" not in text
    assert f"in FY{start_year}: nothing is allocated for this fiscal year" in text
    assert "$90,000.00" in text
