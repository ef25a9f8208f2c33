"""The Content Security Policy breaks nothing: pages that people use, the admin and the API docs
render in a real browser with no CSP violation and no script error."""

import pytest

from reporting.models import ReportRun
from tests.browser.conftest import needs_chromium, sign_in
from tests.factories import EmployeeFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), needs_chromium]


def test_pages_render_under_the_policy(browser, live_server):
    root = UserFactory(username="root@example.com", is_staff=True, is_superuser=True)
    employee = EmployeeFactory(user=root)
    ReportRun.objects.create(fiscal_year=2026, quarter=3, requested_by=root)  # still queued
    page = sign_in(browser, live_server, "root@example.com")
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    for path in [
        "/",
        "/requests/",
        "/approvals/",
        "/audit/",
        "/reports/",  # its progress script polls the queued run
        "/offers/",
        "/admin/",
        f"/admin/people/employee/{employee.pk}/change/",
        "/admin/budgets/ledgerentry/",
    ]:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/admin/reporting/productivitymetric/import/")
    page.wait_for_load_state("networkidle")
    # The export page's "Select all" toggle works from its script file, not an inline handler.
    page.goto(f"{live_server.url}/admin/reporting/productivitymetric/export/")
    page.wait_for_load_state("networkidle")
    fields = page.locator('.selectable-field-export-row input[type="checkbox"]')
    assert fields.count() > 0
    page.uncheck("input.select-toggle")
    assert not any(fields.nth(i).is_checked() for i in range(fields.count()))
    page.check("input.select-toggle")
    assert all(fields.nth(i).is_checked() for i in range(fields.count()))
    page.goto(f"{live_server.url}/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .info", timeout=15_000)  # the docs' script ran

    assert problems == []
