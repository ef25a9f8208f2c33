"""In a real browser: an engineer asks for an increase, their manager approves it in the inbox,
and the engineer's dashboard shows the new allocation. Debian's chromium, driven by Playwright;
no browser is ever downloaded."""

import pytest

from budgets.services import budget_allocate, budget_create
from people.selectors import current_fiscal_year
from tests.browser.conftest import needs_chromium, sign_in
from tests.factories import EmployeeFactory

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), needs_chromium]


def test_an_increase_is_asked_approved_and_shown(browser, live_server):
    manager = EmployeeFactory(
        user__username="manager@example.com", user__email="manager@example.com"
    )
    engineer = EmployeeFactory(
        user__username="eng@example.com", user__email="eng@example.com", manager=manager
    )
    budget, _ = budget_create(fiscal_year=current_fiscal_year(), employee=engineer)
    budget_allocate(budget=budget, amount_micros=100_000 * 10**6, acting_user=None)

    # the engineer asks
    page = sign_in(browser, live_server, "eng@example.com")
    page.goto(f"{live_server.url}/requests/")
    page.select_option("#id_kind", "increase")
    page.select_option("#id_employee", str(engineer.pk))
    page.fill("#id_amount", "7500")
    page.fill("#id_reason", "Agents for the payments migration")
    page.click("button:has-text('Submit request')")
    page.wait_for_selector("text=waits for its first approver")

    # the manager approves from the inbox
    boss = sign_in(browser, live_server, "manager@example.com")
    boss.goto(f"{live_server.url}/approvals/")
    boss.click("table.list a")
    boss.fill("#id_comment", "Go ahead")
    boss.click("button:has-text('Approve')")
    boss.wait_for_selector("text=Your decision is recorded.")

    # the engineer sees the new allocation
    page.goto(f"{live_server.url}/")
    assert page.locator("text=$107,500.00").count() >= 1
