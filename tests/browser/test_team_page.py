"""The manager's /team/ page in a real browser: its three sections, sorting by a column header
(and the header saying so), the CSV link, at desktop and phone width without problems."""

from io import StringIO

import pytest
from django.core.management import call_command

from tests.browser.conftest import needs_chromium
from tests.browser.test_role_pages import problems_on

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), needs_chromium]


def test_the_manager_sorts_the_team_page_and_downloads_its_csv(browser, live_server):
    call_command("seed_demo", employees=12, events_per_employee=10, stdout=StringIO())
    for width in (1280, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m, e=errors: m.type == "error" and e.append(m.text))
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", "manager@example.com")
        page.fill("#id_password", "demo")
        page.click("button:has-text('Sign in')")
        page.wait_for_url(f"{live_server.url}/")
        response = page.goto(f"{live_server.url}/team/")
        assert problems_on(page, response, errors) == []
        headings = page.eval_on_selector_all("main h2", "nodes => nodes.map(n => n.textContent)")
        assert headings[:3] == ["People", "Team pools", "Project allocations"]
        # When the manager clicks "Spent" twice: ascending, then descending
        page.click("#section-people th >> text=Spent")
        page.wait_for_url("**/team/?sort=spent")
        spent = page.locator("#section-people th[aria-sort]")
        assert spent.get_attribute("aria-sort") == "ascending"
        page.click("#section-people th >> text=Spent")
        page.wait_for_url("**/team/?sort=-spent")
        assert spent.get_attribute("aria-sort") == "descending"
        assert problems_on(page, page.reload(), errors) == []
        with page.expect_download() as download:
            page.click("text=Download CSV")
        assert download.value.suggested_filename.startswith("team-")
        context.close()
