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
    "hr": ["/", "/company/", "/offers/", "/approvals/", "/admin/people/employee/"],
    "finance": ["/", "/approvals/", "/audit/", "/admin/budgets/rolloverrun/"],
}
WIDTHS = (1280, 390)
MONEY = re.compile(r"-?\$[0-9,]+\.[0-9]{2}")


def chart_total(page, title: str) -> Decimal | None:
    """The sum of a bar list's values (its rows' right-aligned texts), or None with no chart."""
    values = page.eval_on_selector_all(
        f'svg[aria-label="{title}"] text[text-anchor="end"]',
        "nodes => nodes.map(n => n.textContent)",
    )
    amounts = [Decimal(v.replace("$", "").replace(",", "")) for v in values if MONEY.fullmatch(v)]
    return sum(amounts, Decimal(0)) if amounts else None


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
    by_category, by_model = (
        chart_total(page, "Spend by category"),
        chart_total(page, "Spend by model"),
    )
    if by_category is not None and by_model is not None:
        rows = page.eval_on_selector_all('svg[role="img"] text[text-anchor="end"]', "n => n.length")
        if abs(by_category - by_model) > Decimal("0.01") * rows:  # each row rounded to the cent
            found.append(f"charts disagree: by category {by_category}, by model {by_model}")
    return found


def test_every_roles_pages_at_desktop_and_phone_width(browser, live_server, tmp_path):
    call_command("seed_demo", employees=30, events_per_employee=40, stdout=StringIO())
    call_command("seed_offers_demo", stdout=StringIO())
    shots = Path(os.environ.get("ALLOT_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    problems = {}
    for role, urls in ROLE_PAGES.items():
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
            for url in urls:
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
