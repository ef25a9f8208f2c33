"""In a real browser: an engineer asks for an increase, their manager approves it in the inbox,
and the engineer's dashboard shows the new allocation. Debian's chromium, driven by Playwright;
no browser is ever downloaded."""

import os
import shutil

import pytest

from budgets.services import budget_allocate, budget_create
from people.selectors import current_fiscal_year
from tests.factories import EmployeeFactory

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (.ci/run adds it)"
    ),
]


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright runs an event loop in this thread; the test's own ORM calls are synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def sign_in(browser, live_server, email):
    page = browser.new_context().new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", "pw")
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{live_server.url}/")
    return page


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
