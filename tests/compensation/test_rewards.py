"""Total rewards statements (issue 22, item 4): the figures, the PDF, who may open one, the batch
with its progress and its resume, and pay records (from the accepted offer, and HR's)."""

import importlib
import io
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.apps import apps as global_apps
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from budgets.models import Budget
from budgets.rollover import rollover_confirm, rollover_execute, rollover_preview
from budgets.services import employee_allocate_from_level
from budgets.usage import usage_ingest
from compensation.models import PayRecord, PaySource, StatementRun, StatementRunState
from compensation.rewards import rewards_statement, statement_context, statement_pdf
from compensation.services import offer_accept
from compensation.statements import (
    statement_run_make,
    statement_run_request,
    statement_runs_resume,
)
from outbox.models import OutboxMessage
from people.models import CompanySettings, Transparency
from tests.compensation.test_lifecycle import sent_offer
from tests.factories import EmployeeFactory, carry_half, finance_user, hr_user

pytestmark = pytest.mark.django_db
USD = 10**6
MID = 100_000 * USD  # the mid level's annual token budget
IN_FY2026 = datetime(2026, 11, 2, 15, tzinfo=UTC)


@pytest.fixture(autouse=True)
def company(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return carry_half()


def pay(employee, effective_from=date(2026, 1, 1), **amounts) -> PayRecord:
    fields = {
        "base_salary_micros": 150_000 * USD,
        "bonus_micros": 15_000 * USD,
        "stock_annual_value_micros": 30_000 * USD,
        "stock_option_count": 2_000,
        "health_plan_cost_micros": 12_000 * USD,
        "match_401k_percent": Decimal("4"),
        "professional_development_micros": 2_000 * USD,
    }
    fields.update(amounts)
    return PayRecord.objects.create(employee=employee, effective_from=effective_from, **fields)


def spend(employee, event_id: str, cost_usd: str, on: datetime = IN_FY2026) -> None:
    with time_machine.travel(on):
        result = usage_ingest(
            source="gateway",
            events=[
                {
                    "id": event_id,
                    "employee": employee.user.email,
                    "model": "m",
                    "input_tokens": 600,
                    "output_tokens": 400,
                    "cost_usd": cost_usd,
                    "occurred_at": on.isoformat(),
                }
            ],
        )
    assert result.rejected == []


@pytest.fixture
def alice():
    """Mid level ($100,000 a year), FY2026 allocated, $25,000 spent on 1,000 tokens."""
    alice = EmployeeFactory(user__email="alice@example.com", user__first_name="Alice")
    employee_allocate_from_level(employee=alice, fiscal_year=2026, acting_user=None)
    spend(alice, "a-1", "25000")
    return alice


def test_statement_lines_sum_to_the_total_and_tokens_match_the_budget(alice):
    pay(alice, sign_on_bonus_micros=5_000 * USD, effective_from=date(2025, 3, 1))
    statement = rewards_statement(employee=alice, fiscal_year=2026, as_of=date(2026, 11, 30))
    lines = {line.key: line.amount_micros for line in statement.lines}
    # the sign-on bonus was paid in FY2025, so FY2026's statement leaves it out
    assert lines == {
        "base_salary": 150_000 * USD,
        "bonus": 15_000 * USD,
        "stock": 30_000 * USD,
        "health": 12_000 * USD,
        "match_401k": 6_000 * USD,  # 4 % of $150,000
        "professional_development": 2_000 * USD,
        "token_budget": MID,
    }
    assert statement.total_micros == sum(lines.values()) == 315_000 * USD
    budget = Budget.objects.get(employee=alice, fiscal_year=2026)
    tokens = statement.tokens
    assert (tokens.allocated_micros, tokens.spent_micros, tokens.held_micros) == (
        budget.allocated_micros,
        budget.spent_micros,
        budget.reserved_micros,
    )
    assert tokens.tokens_used == 1_000
    assert tokens.left_micros == 75_000 * USD
    # the company carries half of what is unused: if nothing more is spent, $37,500 carries
    assert (tokens.carried_micros, tokens.forfeited_micros, tokens.year_closed) == (
        37_500 * USD,
        37_500 * USD,
        False,
    )
    context = statement_context(statement)
    assert context["total"] == "$315,000.00"
    assert "$37,500.00 carries over to FY2027" in context["carry_sentence"]


def test_the_record_in_force_on_the_day_is_used_and_a_sign_on_bonus_only_in_its_year(alice):
    pay(alice, effective_from=date(2026, 1, 1), sign_on_bonus_micros=8_000 * USD)
    pay(alice, effective_from=date(2026, 7, 1), base_salary_micros=165_000 * USD)
    before = rewards_statement(employee=alice, fiscal_year=2026, as_of=date(2026, 6, 30))
    after = rewards_statement(employee=alice, fiscal_year=2026, as_of=date(2026, 7, 1))
    assert before.pay.base_salary_micros == 150_000 * USD
    assert {line.key: line.amount_micros for line in before.lines}["sign_on"] == 8_000 * USD
    assert after.pay.base_salary_micros == 165_000 * USD
    assert "sign_on" not in {line.key for line in after.lines}  # that record has none


def test_without_a_pay_record_the_statement_says_so_and_shows_the_token_budget(alice):
    statement = rewards_statement(employee=alice, fiscal_year=2026)
    assert [line.key for line in statement.lines] == ["token_budget"]
    assert statement.total_micros == MID
    assert "no pay record" in statement.notes[0]


def test_a_closed_year_shows_what_the_close_carried_and_forfeited(alice):
    pay(alice)
    with time_machine.travel(datetime(2027, 1, 4, 15, tzinfo=UTC)):
        run = rollover_preview(fiscal_year=2026, acting_user=None)
        rollover_execute(run=rollover_confirm(run=run, acting_user=None, enqueue=False))
        statement = rewards_statement(employee=alice, fiscal_year=2026)
    tokens = statement.tokens
    assert tokens.year_closed and statement.as_of == date(2026, 12, 31)
    assert (tokens.carried_micros, tokens.forfeited_micros) == (37_500 * USD, 37_500 * USD)
    # the year's own allocation, not what is left on the closed budget after the close
    assert tokens.allocated_micros == MID and tokens.left_micros == 75_000 * USD
    assert (
        "At the year's close $37,500.00 carried over"
        in statement_context(statement)["carry_sentence"]
    )


def test_a_company_that_hides_token_dollars_gets_no_token_dollars_on_the_statement(alice):
    pay(alice)
    row = CompanySettings.objects.get(pk=1)
    row.transparency_default = Transparency.ABSTRACTED
    row.save()  # through save: the settings' cache is told
    context = statement_context(rewards_statement(employee=alice, fiscal_year=2026))
    assert context["total_label"] == "Total of pay and benefits"
    assert context["total"] == "$215,000.00"  # without the token budget's $100,000
    assert context["token_rows"] == [("Used of this year's budget", "25%", "")]
    assert context["carry_sentence"] == ""
    token_line = next(line for line in context["lines"] if line["label"] == "AI token budget")
    assert "$" not in token_line["amount"]


def test_the_pdf_is_one_page_with_the_name_and_the_total(alice):
    pay(alice)
    pdf = statement_pdf(rewards_statement(employee=alice, fiscal_year=2026))
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert "Your total rewards, FY2026" in text and "alice@example.com" in text
    assert "$315,000.00" in text and "$25,000.00" in text


def test_an_employee_opens_their_own_statement_and_nobody_elses(client, alice):
    pay(alice)
    bob = EmployeeFactory(user__email="bob@example.com", manager=alice, team=alice.team)
    own = reverse("compensation:rewards-pdf", args=[alice.pk, 2026])
    client.force_login(alice.user)
    response = client.get(own)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store"
    # not even a manager opens a report's statement: pay is HR's
    assert client.get(reverse("compensation:rewards-pdf", args=[bob.pk, 2026])).status_code == 404
    assert client.get(reverse("compensation:rewards")).status_code == 403
    mine = client.get(reverse("compensation:rewards-mine"))
    assert mine.status_code == 302 and mine["Location"].endswith(own)
    client.force_login(bob.user)
    assert client.get(own).status_code == 404
    client.force_login(hr_user())
    assert client.get(own).status_code == 200


def test_hr_asks_for_everyones_statements_and_follows_the_progress(client, alice):
    hr = hr_user()
    client.force_login(hr)
    response = client.post(reverse("compensation:rewards"), {"what": "batch", "fiscal_year": 2026})
    assert response.status_code == 302
    run = StatementRun.objects.get()
    assert (run.fiscal_year, run.state, run.total, run.requested_by) == (2026, "queued", 1, hr)
    assert OutboxMessage.objects.filter(task="compensation.statements_make").count() == 1
    # asking again while it is open gives the same run, not a second batch
    client.post(reverse("compensation:rewards"), {"what": "batch", "fiscal_year": 2026})
    assert StatementRun.objects.count() == 1
    status = client.get(reverse("compensation:rewards-status", args=[run.pk])).json()
    assert status == {
        "id": run.pk,
        "state": "queued",
        "progress_percent": 0,
        "stage": "0 of 1 statements",
        "finished": False,
    }
    page = client.get(reverse("compensation:rewards"))
    assert b"<progress" in page.content and b"report-progress.js" in page.content
    bad = client.post(reverse("compensation:rewards"), {"what": "batch", "fiscal_year": "20x"})
    assert bad.status_code == 200 and b"Enter a whole number" in bad.content
    # the zip is there once the run is done, not before
    assert client.get(reverse("compensation:rewards-zip", args=[run.pk])).status_code == 404


def test_the_batch_makes_a_zip_of_every_statement_and_counts_those_without_pay(client, alice):
    pay(alice)
    EmployeeFactory(user__email="nopay@example.com")
    run = statement_run_request(fiscal_year=2026, acting_user=None, enqueue=False)
    run = statement_run_make(run=run)
    assert (run.state, run.done, run.total, run.without_pay) == ("done", 2, 2, 1)
    with run.archive.open("rb") as archive, zipfile.ZipFile(archive) as zipped:
        names = sorted(zipped.namelist())
        assert len(names) == 2 and all(name.endswith(".pdf") for name in names)
        assert zipped.read(names[0]).startswith(b"%PDF")
    client.force_login(hr_user())
    response = client.get(reverse("compensation:rewards-zip", args=[run.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"


def test_a_run_that_lost_its_worker_is_resumed_and_keeps_what_it_made(alice, tmp_path):
    other = EmployeeFactory(user__email="other@example.com")
    run = statement_run_request(fiscal_year=2026, acting_user=None, enqueue=False)
    # a worker made Alice's statement, then was killed: the run is "running", its beat old
    folder = tmp_path / "statements" / f"run-{run.pk}"
    folder.mkdir(parents=True)
    made = rewards_statement(employee=alice, fiscal_year=2026)
    (folder / made.filename).write_bytes(b"%PDF-made-before-the-kill")
    StatementRun.objects.filter(pk=run.pk).update(
        state=StatementRunState.RUNNING, done=1, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    assert statement_runs_resume() == 1
    run.refresh_from_db()
    assert (run.state, run.resumes) == ("interrupted", 1)
    assert "Stopped after 1 of 2" in run.error
    assert OutboxMessage.objects.filter(task="compensation.statements_make").count() == 1
    run = statement_run_make(run=run)
    assert (run.state, run.done) == ("done", 2)
    with run.archive.open("rb") as archive, zipfile.ZipFile(archive) as zipped:
        assert zipped.read(made.filename) == b"%PDF-made-before-the-kill"  # not made twice
        other_name = rewards_statement(employee=other, fiscal_year=2026).filename
        assert zipped.read(other_name).startswith(b"%PDF")


def test_a_run_a_live_worker_is_making_is_not_made_a_second_time(alice, tmp_path):
    run = statement_run_request(fiscal_year=2026, acting_user=None, enqueue=False)
    beat = timezone.now() - timedelta(seconds=30)  # its worker beat 30 s ago: alive
    StatementRun.objects.filter(pk=run.pk).update(
        state=StatementRunState.RUNNING, done=0, heartbeat_at=beat
    )
    run = statement_run_make(run=run)  # a late copy of the task
    assert (run.state, run.done, run.heartbeat_at) == ("running", 0, beat)
    assert not run.archive
    assert not list(tmp_path.rglob("*.pdf"))
    # once its beat is older than the bound, the worker is lost and the run is claimed
    StatementRun.objects.filter(pk=run.pk).update(heartbeat_at=beat - timedelta(hours=1))
    assert statement_run_make(run=run).state == "done"


def test_an_accepted_offer_becomes_the_first_pay_record(org):
    offer = sent_offer(org, start_date=date(2026, 10, 1))
    employee = offer_accept(offer=offer, acting_user=org["hr"])
    record = PayRecord.objects.get(employee=employee)
    assert (record.effective_from, record.source, record.offer) == (
        date(2026, 10, 1),
        PaySource.OFFER,
        offer,
    )
    assert record.base_salary_micros == offer.base_salary_micros
    assert record.stock_annual_value_micros == offer.trade.stock_value_micros
    assert record.sign_on_bonus_micros == offer.sign_on_bonus_micros
    statement = rewards_statement(employee=employee, fiscal_year=2026, as_of=date(2026, 11, 1))
    assert {line.key: line.amount_micros for line in statement.lines}["sign_on"] == (
        offer.sign_on_bonus_micros
    )


def test_the_migration_gives_earlier_accepted_offers_their_pay_record(org):
    module = importlib.import_module("compensation.migrations.0004_pay_records_and_statement_runs")
    employee = offer_accept(offer=sent_offer(org), acting_user=org["hr"])
    PayRecord.objects.filter(employee=employee).delete()  # as before the migration
    module.pay_records_from_accepted_offers(global_apps, None)
    module.pay_records_from_accepted_offers(global_apps, None)  # twice: still one
    assert PayRecord.objects.filter(employee=employee, source=PaySource.OFFER).count() == 1


def test_hr_records_pay_in_the_admin_and_a_clash_is_a_field_error(client, alice):
    hr = hr_user()
    client.force_login(hr)
    url = reverse("admin:compensation_payrecord_add")
    form = {
        "employee": alice.pk,
        "effective_from": "2026-03-01",
        "base_salary_micros": "160,000.00",
        "bonus_micros": "0",
        "sign_on_bonus_micros": "0",
        "stock_option_count": "0",
        "stock_annual_value_micros": "0",
        "health_plan_cost_micros": "0",
        "match_401k_percent": "0",
        "professional_development_micros": "0",
        "note": "raise",
    }
    assert client.post(url, form).status_code == 302
    record = PayRecord.objects.get(employee=alice)
    assert (record.base_salary_micros, record.created_by, record.source) == (
        160_000 * USD,
        hr,
        PaySource.HR,
    )
    again = client.post(url, form)
    assert again.status_code == 200 and "already has a pay record" in again.content.decode()
    early = client.post(url, {**form, "effective_from": "2019-01-01"})
    assert "pay starts on or after it" in early.content.decode()
    assert PayRecord.objects.count() == 1


def test_finance_sees_no_pay(client, alice):
    pay(alice)
    client.force_login(finance_user())
    assert client.get(reverse("admin:compensation_payrecord_changelist")).status_code == 403
    assert client.get(reverse("compensation:rewards")).status_code == 403
    pdf = reverse("compensation:rewards-pdf", args=[alice.pk, 2026])
    assert client.get(pdf).status_code == 404


def test_the_engineers_dashboard_links_their_own_statement(client, alice):
    client.force_login(alice.user)
    page = client.get(reverse("dashboard")).content.decode()
    assert reverse("compensation:rewards-mine") in page
