"""Finance's month: closing, the late-entry rule, reopening by two people, and the journal."""

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from budgets.closing import month_close, month_parse, month_reopen_confirm, month_reopen_request
from budgets.models import Budget, EntryKind, LedgerEntry, MonthClose, RolloverState
from budgets.rollover import rollover_confirm, rollover_execute, rollover_preview
from budgets.services import budget_allocate, budget_create
from budgets.usage import usage_post
from common.errors import AllotError
from people.models import Department
from people.services import employee_deactivate
from reporting.calculations import cents_spread
from reporting.journal import journal_csv, ledger_totals
from reporting.models import JournalAccount
from tests.factories import EmployeeFactory, TeamFactory, carry_half, finance_user, hr_user

K = 10**6
NOVEMBER = date(2026, 11, 1)
DECEMBER = date(2026, 12, 1)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.get_default_timezone())


def spend(employee, event_id: str, when: datetime, cost_micros: int):
    return usage_post(
        employee=employee,
        event_id=event_id,
        model_name="sonnet",
        occurred_at=when,
        input_tokens=1000,
        output_tokens=100,
        cost_micros=cost_micros,
    )


@pytest.fixture
def november(db):
    """Two cost centres (a team with its own code, a team booked to its department), with
    November's allocations, odd-micro usage and a carryover."""
    data = Department.objects.create(name="Data", cost_centre="CC-DATA")
    lake = TeamFactory(name="Lakehouse", department=data, cost_centre="CC-LAKE")
    stream = TeamFactory(name="Streams", department=data)
    alice = EmployeeFactory(user__first_name="Alice", team=lake)
    bob = EmployeeFactory(user__first_name="Bob", team=stream)
    with time_machine.travel(at(2026, 11, 5, 9), tick=False):
        for person, amount in ((alice, 500), (bob, 300)):
            budget, _ = budget_create(fiscal_year=2026, employee=person)
            budget_allocate(budget=budget, amount_micros=amount * K, acting_user=None)
        budget_allocate(
            budget=alice.budgets.get(),
            amount_micros=40 * K,
            acting_user=None,
            kind=EntryKind.CARRYOVER_IN,
        )
    with time_machine.travel(at(2026, 11, 20, 12), tick=False):
        # a third of a cent and more: lines that only add up to the cent when spread
        for n in range(7):
            spend(alice, f"a-{n}", at(2026, 11, 20, 10, n), 3_333_337)
            spend(bob, f"b-{n}", at(2026, 11, 20, 11, n), 1_234_567)
    return {"alice": alice, "bob": bob}


def lines(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def cents(text: str) -> int:
    return int(Decimal(text or "0") * 100)


def test_a_closed_months_journal_is_byte_identical_after_late_usage(november):
    # given November closed and exported
    with time_machine.travel(at(2026, 12, 3, 9), tick=False):
        month_close(month=NOVEMBER, acting_user=finance_user())
        before = journal_csv(NOVEMBER)
        # when usage that happened in November arrives now
        spend(november["alice"], "late-1", at(2026, 11, 29, 16), 12_500_000)
    # then November's file has not changed by a byte, and the late entry is December's, marked
    assert journal_csv(NOVEMBER) == before
    late = LedgerEntry.objects.get(memo__endswith=":late-1")
    assert (late.period, late.late_for) == (DECEMBER, NOVEMBER)
    # and once December is closed its journal carries the late usage, marked late
    with time_machine.travel(at(2027, 1, 4, 9), tick=False):
        month_close(month=DECEMBER, acting_user=None)
        december = lines(journal_csv(DECEMBER))
    marked = [line for line in december if line["late_for_month"] == "2026-11"]
    assert {line["entry_kind"] for line in marked} == {"usage"}
    assert sum(cents(line["debit"]) for line in marked) == 1250
    assert all("late: 2026-11" in line["description"] for line in marked)


def test_usage_of_an_open_month_is_posted_in_the_month_it_happened(november):
    # given November still open on December 2
    with time_machine.travel(at(2026, 12, 2, 9), tick=False):
        spend(november["bob"], "nov-30", at(2026, 11, 30, 23), 1 * K)
    # then its entry is November's, not late
    entry = LedgerEntry.objects.get(memo__endswith=":nov-30")
    assert (entry.period, entry.late_for) == (NOVEMBER, None)


def test_debits_equal_credits_and_each_kind_equals_the_months_ledger_to_the_cent(november):
    with time_machine.travel(at(2026, 12, 3, 9), tick=False):
        month_close(month=NOVEMBER, acting_user=None)
        rows = lines(journal_csv(NOVEMBER))
    # debits equal credits, per file and per cost centre
    assert sum(cents(r["debit"]) for r in rows) == sum(cents(r["credit"]) for r in rows)
    for centre in {r["cost_centre"] for r in rows}:
        mine = [r for r in rows if r["cost_centre"] == centre]
        assert sum(cents(r["debit"]) for r in mine) == sum(cents(r["credit"]) for r in mine)
    # each kind's debits equal the month's ledger total of that kind, to the cent
    ledger = ledger_totals(NOVEMBER)
    assert ledger[EntryKind.USAGE] == 7 * 3_333_337 + 7 * 1_234_567
    for kind, total_micros in ledger.items():
        booked = sum(cents(r["debit"]) for r in rows if r["entry_kind"] == kind)
        expected = int((Decimal(total_micros) / 10_000).quantize(Decimal(1), "ROUND_HALF_UP"))
        assert booked == expected, kind
    # usage is booked to expense by cost centre: the team's own code, else its department's
    usage = {(r["account"], r["cost_centre"]): r for r in rows if r["entry_kind"] == "usage"}
    # $23.333359 and $8.641969 make $31.975328, booked $31.98: the cent the lines lack goes to
    # the line with the larger remainder
    assert cents(usage[("6410", "CC-LAKE")]["debit"]) == 2334
    assert cents(usage[("6410", "CC-DATA")]["debit"]) == 864
    assert cents(usage[("2110", "CC-LAKE")]["credit"]) == 2334
    # the carryover accrues a liability, and usage drawing it releases the liability
    accrual = [r for r in rows if r["entry_kind"] == "carryover_in"]
    assert {(r["account"], cents(r["debit"]), cents(r["credit"])) for r in accrual} == {
        ("6410", 4000, 0),
        ("2310", 0, 4000),
    }
    release = [r for r in rows if r["entry_kind"] == "carryover_used"]
    assert {(r["account"], cents(r["debit"]), cents(r["credit"])) for r in release} == {
        ("2310", 2333, 0),
        ("6410", 0, 2333),
    }


def test_account_codes_set_in_the_admin_are_used(november):
    JournalAccount.objects.create(
        kind=EntryKind.USAGE,
        debit_account="700100",
        debit_account_name="LLM tokens",
        credit_account="200900",
        credit_account_name="Accrued vendors",
    )
    with time_machine.travel(at(2026, 12, 3, 9), tick=False):
        month_close(month=NOVEMBER, acting_user=None)
        rows = lines(journal_csv(NOVEMBER))
    usage_accounts = {r["account"] for r in rows if r["entry_kind"] == "usage"}
    assert usage_accounts == {"700100", "200900"}


def test_an_expiry_releases_the_liability_and_a_forfeiture_is_booked(november):
    alice = november["alice"]
    budget = alice.budgets.get()
    with time_machine.travel(at(2026, 11, 28, 9), tick=False):
        # the rest of the carryover expires (what the expiry job posts)
        LedgerEntry.objects.create(
            budget=budget, kind=EntryKind.EXPIRY, amount_micros=-1 * K, period=NOVEMBER
        )
    with time_machine.travel(at(2026, 12, 3, 9), tick=False):
        month_close(month=NOVEMBER, acting_user=None)
        rows = lines(journal_csv(NOVEMBER))
    expiry = {
        (r["account"], cents(r["debit"]), cents(r["credit"]))
        for r in rows
        if r["entry_kind"] == "expiry"
    }
    assert expiry == {("2310", 100, 0), ("6410", 0, 100)}


def liability_cents(*journals: list[dict]) -> int:
    """What the carryover liability account holds after these journals: its credits less debits."""
    return sum(
        cents(r["credit"]) - cents(r["debit"])
        for rows in journals
        for r in rows
        if r["account"] == CARRYOVER_ACCOUNT
    )


CARRYOVER_ACCOUNT = "2310"


def test_a_leavers_close_releases_the_carried_money_they_had_not_drawn(november):
    # given November closed: Alice's $40 carryover accrued, $23.333359 of it drawn by usage
    with time_machine.travel(at(2026, 12, 3, 9), tick=False):
        month_close(month=NOVEMBER, acting_user=None)
        nov = lines(journal_csv(NOVEMBER))
    assert liability_cents(nov) == 4000 - 2333
    # when Alice leaves in December: her budget's unused money is forfeited
    with time_machine.travel(at(2026, 12, 10, 9), tick=False):
        employee_deactivate(employee=november["alice"], acting_user=None)
    assert LedgerEntry.objects.filter(kind=EntryKind.FORFEITURE, period=DECEMBER).exists()
    with time_machine.travel(at(2027, 1, 4, 9), tick=False):
        month_close(month=DECEMBER, acting_user=None)
        dec = lines(journal_csv(DECEMBER))
    # then December's journal releases the $16.666641 left of her carryover, on her centre
    released = [r for r in dec if r["entry_kind"] == "carryover_closed"]
    assert {
        (r["account"], r["cost_centre"], cents(r["debit"]), cents(r["credit"])) for r in released
    } == {("2310", "CC-LAKE", 1667, 0), ("6410", "CC-LAKE", 0, 1667)}
    assert all("released at the budget's close" in r["description"] for r in released)
    # the liability is gone, and the file still balances
    assert liability_cents(nov, dec) == 0
    assert sum(cents(r["debit"]) for r in dec) == sum(cents(r["credit"]) for r in dec)


def test_late_usage_after_a_leavers_close_moves_the_release_from_the_close_to_usage(november):
    # given Alice left in November, with $16.666641 of her carryover undrawn
    with time_machine.travel(at(2026, 11, 25, 9), tick=False):
        employee_deactivate(employee=november["alice"], acting_user=None)
    with time_machine.travel(at(2026, 12, 3, 9), tick=False):
        month_close(month=NOVEMBER, acting_user=None)
        nov = lines(journal_csv(NOVEMBER))
        # when a call she made before leaving is reported after November closed
        spend(november["alice"], "late-leaver", at(2026, 11, 24, 16), 5 * K)
    with time_machine.travel(at(2027, 1, 4, 9), tick=False):
        month_close(month=DECEMBER, acting_user=None)
        dec = lines(journal_csv(DECEMBER))
    # then December takes back $5 of the close's release and books it as drawn by usage
    booked = {
        (r["entry_kind"], r["account"], cents(r["debit"]), cents(r["credit"]))
        for r in dec
        if r["entry_kind"].startswith("carryover")
    }
    assert booked == {
        ("carryover_used", "2310", 500, 0),
        ("carryover_used", "6410", 0, 500),
        ("carryover_closed", "6410", 500, 0),
        ("carryover_closed", "2310", 0, 500),
    }
    assert liability_cents(nov) == 0
    assert liability_cents(nov, dec) == 0


def test_the_years_close_releases_the_old_carryover_and_accrues_the_new(november):
    # given FY2026's rule carries half of what is unused into FY2027
    carry_half()
    with time_machine.travel(at(2026, 12, 3, 9), tick=False):
        month_close(month=NOVEMBER, acting_user=None)
        nov = lines(journal_csv(NOVEMBER))
    # when finance closes FY2026 on January 1st
    with time_machine.travel(at(2027, 1, 1, 12), tick=False):
        run = rollover_preview(fiscal_year=2026, acting_user=None)
        if run.state != RolloverState.RUNNING:
            run = rollover_confirm(run=run, acting_user=None, enqueue=False)
        assert rollover_execute(run=run).finished
    with time_machine.travel(at(2027, 2, 2, 9), tick=False):
        month_close(month=date(2027, 1, 1), acting_user=None)
        jan = lines(journal_csv(date(2027, 1, 1)))
    # then January releases what was left of Alice's old carryover, $16.666641
    released = [r for r in jan if r["entry_kind"] == "carryover_closed"]
    assert {(r["account"], cents(r["debit"]), cents(r["credit"])) for r in released} == {
        ("2310", 1667, 0),
        ("6410", 0, 1667),
    }
    # and the liability after both months is exactly FY2027's new carryover, nothing of FY2026
    carried_2027 = sum(
        Budget.objects.filter(fiscal_year=2027).values_list("carried_over_micros", flat=True)
    )
    assert carried_2027 > 0
    new_accrual = sum(cents(r["credit"]) for r in jan if r["entry_kind"] == "carryover_in")
    assert new_accrual == int(
        (Decimal(carried_2027) / 10_000).quantize(Decimal(1), "ROUND_HALF_UP")
    )
    assert liability_cents(nov, jan) == new_accrual
    assert sum(cents(r["debit"]) for r in jan) == sum(cents(r["credit"]) for r in jan)


def test_reopening_needs_a_second_finance_user(november):
    first, second = finance_user(), finance_user()
    with time_machine.travel(at(2026, 12, 3, 9), tick=False):
        month_close(month=NOVEMBER, acting_user=first)
        # confirming with nobody having asked, or asking and confirming alone, is refused
        with pytest.raises(AllotError, match="Nobody has asked"):
            month_reopen_confirm(month=NOVEMBER, acting_user=second)
        month_reopen_request(month=NOVEMBER, acting_user=first)
        with pytest.raises(AllotError, match="second finance user"):
            month_reopen_confirm(month=NOVEMBER, acting_user=first)
        with pytest.raises(AllotError, match="Only finance"):
            month_reopen_confirm(month=NOVEMBER, acting_user=hr_user())
        assert MonthClose.objects.filter(month=NOVEMBER).exists()
        # a second finance user confirms: the month is open, and takes November's usage again
        month_reopen_confirm(month=NOVEMBER, acting_user=second)
        assert not MonthClose.objects.filter(month=NOVEMBER).exists()
        spend(november["bob"], "after-reopen", at(2026, 11, 30, 9), 1 * K)
    entry = LedgerEntry.objects.get(memo__endswith=":after-reopen")
    assert (entry.period, entry.late_for) == (NOVEMBER, None)
    assert MonthClose.history.filter(month=NOVEMBER, history_type="-").count() == 1


def test_closing_refuses_a_month_not_ended_and_bad_input(db):
    with time_machine.travel(at(2026, 12, 3, 9), tick=False):
        with pytest.raises(AllotError, match="has not ended") as refused:
            month_close(month=DECEMBER, acting_user=None)
        assert refused.value.field == "month"
        with pytest.raises(AllotError, match="YYYY-MM"):
            month_parse("2026-13")
        with pytest.raises(AllotError, match="Only finance"):
            month_close(month=NOVEMBER, acting_user=hr_user())
        # the journal of a month not closed is refused: it could still change
        with pytest.raises(AllotError, match="not closed"):
            journal_csv(NOVEMBER)


def test_commands_close_and_export(november, tmp_path):
    output = tmp_path / "journal-2026-11.csv"
    with time_machine.travel(at(2026, 12, 3, 9), tick=False):
        call_command("month_close", "--month", "2026-11", stdout=io.StringIO())
        call_command(
            "journal_export", "--month", "2026-11", "--output", str(output), stdout=io.StringIO()
        )
        with pytest.raises(CommandError, match="YYYY-MM"):
            call_command("month_close", "--month", "november")
        assert output.read_bytes() == journal_csv(NOVEMBER).encode()
    assert output.read_text().splitlines()[0].startswith("journal_id,posting_date,line,account")


def test_journal_download_is_for_finance_only(november, client):
    with time_machine.travel(at(2026, 12, 3, 9), tick=False):
        month_close(month=NOVEMBER, acting_user=None)
        client.force_login(hr_user())
        assert client.get("/reports/journal/2026-11/").status_code == 403
        client.force_login(finance_user())
        response = client.get("/reports/journal/2026-11/")
        assert response.status_code == 200
        assert response.content.decode() == journal_csv(NOVEMBER)
        refused = client.get("/reports/journal/2026-10/")
        assert refused.status_code == 400
        assert b"not closed" in refused.content


@pytest.mark.parametrize(
    "line_micros",
    [[3_333_337] * 7, [5_000, 5_000, 5_000], [-25_000, 10_001], [1, 2, 3, 9_999], []],
)
def test_cents_spread_adds_up_to_the_rounded_total(line_micros):
    spread = cents_spread(line_micros)
    total = int((Decimal(sum(line_micros)) / 10_000).quantize(Decimal(1), "ROUND_HALF_UP"))
    assert sum(spread) == total
    assert all(abs(c * 10_000 - m) < 10_000 for c, m in zip(spread, line_micros, strict=True))


def test_finance_closes_and_two_finance_users_reopen_in_the_admin(november, client):
    first, second = finance_user(), finance_user()
    with time_machine.travel(at(2026, 12, 3, 9), tick=False):
        client.force_login(first)
        # when finance adds a closed month in the admin
        response = client.post(
            "/admin/budgets/monthclose/add/", {"month_text": "2026-11"}, follow=True
        )
        assert response.status_code == 200
        closed = MonthClose.objects.get(month=NOVEMBER)
        assert closed.closed_by == first
        listing = client.get("/admin/budgets/monthclose/").content.decode()
        assert "2026-11" in listing and "/reports/journal/2026-11/" in listing
        # a month that has not ended is refused with its reason
        refused = client.post(
            "/admin/budgets/monthclose/add/", {"month_text": "2026-12"}, follow=True
        )
        assert "has not ended yet" in refused.content.decode()
        assert not MonthClose.objects.filter(month=DECEMBER).exists()
        # the first asks to reopen; confirming alone is refused
        action = {"_selected_action": [closed.pk], "index": 0}
        client.post("/admin/budgets/monthclose/", {**action, "action": "reopen_request"})
        alone = client.post(
            "/admin/budgets/monthclose/", {**action, "action": "reopen_confirm"}, follow=True
        )
        assert "second finance user must confirm" in alone.content.decode()
        assert MonthClose.objects.filter(month=NOVEMBER).exists()
        # HR sees no closed months at all
        client.force_login(hr_user())
        assert client.get("/admin/budgets/monthclose/").status_code == 403
        # the second finance user confirms
        client.force_login(second)
        client.post("/admin/budgets/monthclose/", {**action, "action": "reopen_confirm"})
        assert not MonthClose.objects.filter(month=NOVEMBER).exists()
