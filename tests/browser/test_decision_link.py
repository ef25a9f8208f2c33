"""In a real browser (issue 19): the manager opens the one-click link from the email captured in
the test's mailbox, without signing in, sees the request, confirms, and the ledger moves once;
the same link opened again says it was used. Debian's chromium, driven by Playwright."""

import re

import pytest
from django.core import mail

from approvals.models import RequestKind
from approvals.services import request_submit
from budgets.models import EntryKind, LedgerEntry
from tests.browser.conftest import needs_chromium
from tests.factories import EmployeeFactory

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True), needs_chromium]


def test_the_emailed_link_confirms_and_the_ledger_moves_once(browser, live_server, settings):
    settings.ALLOT_BASE_URL = live_server.url
    manager = EmployeeFactory(
        user__username="manager@example.com", user__email="manager@example.com"
    )
    engineer = EmployeeFactory(user__email="eng@example.com", manager=manager)
    request_submit(  # outside a transaction here: the email goes at once
        kind=RequestKind.INCREASE,
        requester=engineer.user,
        employee=engineer,
        amount_micros=7_500 * 10**6,
        reason="Agents for the payments migration",
    )
    (email,) = [m for m in mail.outbox if m.to == ["manager@example.com"]]
    link = re.search(re.escape(live_server.url) + r"/approvals/decide/\S+/", email.body).group(0)

    page = browser.new_context().new_page()
    page.goto(link)
    page.wait_for_selector("text=Agents for the payments migration")
    assert page.locator("text=Nothing happens until you press a button").count() == 1
    assert not LedgerEntry.objects.filter(kind=EntryKind.APPROVED_INCREASE).exists()

    page.click("button:has-text('Approve')")
    page.wait_for_selector("text=You approved step 1")
    assert LedgerEntry.objects.filter(kind=EntryKind.APPROVED_INCREASE).count() == 1

    page.goto(link)
    page.wait_for_selector("text=Nothing was decided")
    assert page.locator("button:has-text('Approve')").count() == 0
    assert LedgerEntry.objects.filter(kind=EntryKind.APPROVED_INCREASE).count() == 1
