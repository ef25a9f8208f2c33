"""Each demo role's pages in a real browser (Debian's chromium), at desktop and phone width:
no 4xx/5xx, no console error, no "E+" money, no chart whose parts miss its total, no sideways
scrolling at 390 px. Screenshots go to $ALLOT_SCREENSHOTS (or the test's tmp dir)."""

import os
import re
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.browser.conftest import needs_chromium

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), needs_chromium]

ROLE_PAGES = {
    "engineer": ["/", "/requests/"],
    "manager": ["/", "/team/", "/requests/", "/approvals/", "/offers/"],
    "hr": ["/", "/company/", "/offers/", "/approvals/", "/rewards/", "/pilots/"]
    + ["/admin/people/employee/", "/admin/compensation/payrecord/"],
    "finance": ["/", "/approvals/", "/audit/", "/reports/", "/pilots/"]
    + ["/admin/budgets/rolloverrun/"],
}
WIDTHS = (1280, 390)


# Each chart's parts and total as common/charts writes them (data-part, data-total), and the
# size its smallest text is drawn at on the screen (the viewBox's scale times its font size).
CHARTS_JS = """svgs => svgs.map(svg => ({
    title: svg.getAttribute("aria-label"),
    kind: svg.getAttribute("data-chart"),
    total: svg.getAttribute("data-total"),
    parts: [...svg.querySelectorAll("[data-part]")].map(n => n.getAttribute("data-part")),
    smallest_text_px: Math.min(...[...svg.querySelectorAll("text")].map(
        t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a)),
}))"""
SMALLEST_TEXT_PX = 10.5  # the charts' 11 px, less what a browser rounds


def chart_problems(page) -> list[str]:
    """Every chart whose parts do not sum to its total exactly, that shows none (a line of
    levels, e.g. prices, has no total), or whose text is drawn smaller than one can read."""
    found = []
    for chart in page.eval_on_selector_all('svg[role="img"]', CHARTS_JS):
        title = chart["title"]
        if chart["kind"] != "line" and (chart["total"] is None or not chart["parts"]):
            found.append(f"chart {title!r} shows no parts and total")
        elif chart["kind"] != "line":
            parts = sum((Decimal(p) for p in chart["parts"]), Decimal(0))
            if parts != Decimal(chart["total"]):
                found.append(f"chart {title!r}: parts sum to {parts}, total {chart['total']}")
        if chart["smallest_text_px"] < SMALLEST_TEXT_PX:
            found.append(f"chart {title!r}: text drawn at {chart['smallest_text_px']:.1f} px")
    return found


def problems_on(page, response, errors: list[str]) -> list[str]:
    found = []
    if response is None or response.status >= 400:
        found.append(f"HTTP {response.status if response else 'none'}")
    text = page.inner_text("body")
    if re.search(r"[0-9]E\+[0-9]", text):
        found.append("E+ in money")
    if page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"):
        found.append("horizontal overflow")
    if errors:
        found.append(f"console errors: {errors}")
    found += chart_problems(page)
    return found


@pytest.mark.parametrize("role", ROLE_PAGES)
def test_every_roles_pages_at_desktop_and_phone_width(browser, live_server, tmp_path, role):
    call_command("seed_demo", employees=30, events_per_employee=40, stdout=StringIO())
    call_command("seed_offers_demo", stdout=StringIO())
    shots = Path(os.environ.get("ALLOT_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    problems = {}
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        failed: list[str] = []
        page.on("console", lambda m, e=errors: m.type == "error" and e.append(m.text))
        page.on("response", lambda r, f=failed: r.status >= 400 and f.append(r.url))
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", f"{role}@example.com")
        page.fill("#id_password", "demo")
        page.click("button:has-text('Sign in')")
        page.wait_for_url(f"{live_server.url}/")
        for url in ROLE_PAGES[role]:
            errors.clear()
            failed.clear()
            response = page.goto(f"{live_server.url}{url}")
            name = f"{role}-{width}-{url.strip('/').replace('/', '_') or 'home'}"
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            found = problems_on(page, response, errors) + [f"{u} failed" for u in failed]
            if found:
                problems[name] = found
        context.close()
    assert problems == {}
