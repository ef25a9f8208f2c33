"""The annual rollover: carryover, forfeiture, new allocations, exactly once, resumable."""

from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction

from budgets.models import (
    Budget,
    CarryoverAppliesTo,
    CarryoverPolicy,
    EntryKind,
    LedgerEntry,
    RolloverItem,
    RolloverRun,
    RolloverState,
)
from budgets.rollover import (
    carryover_expire_due,
    rollover_confirm,
    rollover_execute,
    rollover_preview,
    rollover_scheduled_step,
)
from budgets.rollover import commit as rollover_module
from budgets.services import budget_allocate, budget_create, employee_allocate_from_level
from budgets.usage import usage_post
from common.errors import AllotError
from people.models import Level
from tests.factories import (
    EmployeeFactory,
    ProjectFactory,
    TeamFactory,
    carry_half,
    finance_user,
    hr_user,
)

pytestmark = pytest.mark.django_db
K = 1_000_000_000  # $1,000 in micros
MID = 100_000 * 10**6
SENIOR = 150_000 * 10**6


def spend(employee, micros, *, on=datetime(2026, 6, 1, 12, tzinfo=UTC), event=None, project=None):
    usage_post(
        employee=employee,
        event_id=event or f"e-{employee.pk}-{micros}-{on.isoformat()}",
        model_name="m",
        occurred_at=on,
        input_tokens=1,
        output_tokens=1,
        cost_micros=micros,
        project=project,
    )


@pytest.fixture
def company():
    return carry_half()


@pytest.fixture
def org(company):
    """FY2026 with one of each case the rollover handles."""
    alice = EmployeeFactory()  # mid, spends $40,000 of $100,000
    employee_allocate_from_level(employee=alice, fiscal_year=2026, acting_user=None)
    spend(alice, 40 * K)

    bob = EmployeeFactory()  # mid, promoted to senior during the year
    employee_allocate_from_level(employee=bob, fiscal_year=2026, acting_user=None)
    bob.level = Level.objects.get(name="senior")
    bob.save()

    carol = EmployeeFactory()  # leaves during the year
    employee_allocate_from_level(employee=carol, fiscal_year=2026, acting_user=None)
    spend(carol, 10 * K)
    carol.is_active = False
    carol.left_on = date(2026, 9, 30)
    carol.save()

    dan = EmployeeFactory(hire_date=date(2026, 7, 1))  # joined mid-year: prorated then
    employee_allocate_from_level(employee=dan, fiscal_year=2026, acting_user=None)

    erin = EmployeeFactory()  # active, never had a FY2026 budget

    team = TeamFactory(has_pool=True, pool_overflow=True)
    pool, _ = budget_create(fiscal_year=2026, team=team)
    budget_allocate(budget=pool, amount_micros=10 * K, acting_user=None)

    ended = ProjectFactory(ends_on=date(2026, 6, 30))
    ended_budget, _ = budget_create(fiscal_year=2026, project=ended)
    budget_allocate(budget=ended_budget, amount_micros=20 * K, acting_user=None)

    running = ProjectFactory()
    running_budget, _ = budget_create(fiscal_year=2026, project=running)
    budget_allocate(budget=running_budget, amount_micros=30 * K, acting_user=None)
    running.members.add(alice)
    spend(alice, 5 * K, project=running, event="project-spend")

    return {
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "dan": dan,
        "erin": erin,
        "team": team,
        "ended": ended,
        "running": running,
    }


def commit(fiscal_year=2026, **kwargs):
    run = rollover_preview(fiscal_year=fiscal_year, acting_user=None)
    if run.state != RolloverState.RUNNING:
        run = rollover_confirm(run=run, acting_user=None, enqueue=False)
    return rollover_execute(run=run, **kwargs)


def new_budget(**owner):
    return Budget.objects.filter(fiscal_year=2027, **owner).first()


def ledger_signature():
    """Every budget's entries as (owner, year, kind, amount), order-free: two runs that did the
    same thing have the same signature whatever ids and times they got."""
    rows = LedgerEntry.objects.values_list(
        "budget__employee_id",
        "budget__team_id",
        "budget__project_id",
        "budget__fiscal_year",
        "kind",
        "amount_micros",
        "idempotency_key",
    )
    totals = Budget.objects.values_list(
        "employee_id",
        "team_id",
        "project_id",
        "fiscal_year",
        "allocated_micros",
        "spent_micros",
        "carried_over_micros",
        "carryover_expires_on",
    )
    return sorted(rows, key=repr), sorted(totals, key=repr)


def test_each_case_is_handled_as_the_policy_says(org):
    result = commit(chunk_size=3)

    assert result.finished
    alice = new_budget(employee=org["alice"])
    assert alice.allocated_micros == MID + 30 * K  # half of $60,000 unused carries
    assert alice.carried_over_micros == 30 * K
    assert alice.carryover_expires_on == date(2027, 4, 1)
    old_alice = Budget.objects.get(employee=org["alice"], fiscal_year=2026)
    assert old_alice.allocated_micros == old_alice.spent_micros == 40 * K
    kinds = dict(old_alice.entries.values_list("kind", "amount_micros").exclude(kind="allocation"))
    assert kinds[EntryKind.CARRYOVER_OUT] == -30 * K
    assert kinds[EntryKind.FORFEITURE] == -30 * K

    assert new_budget(employee=org["bob"]).allocated_micros == SENIOR + 50 * K  # promoted
    assert new_budget(employee=org["carol"]) is None  # left: nothing new
    old_carol = Budget.objects.get(employee=org["carol"], fiscal_year=2026)
    assert old_carol.entries.get(kind=EntryKind.FORFEITURE).amount_micros == -90 * K
    assert new_budget(employee=org["dan"]).allocated_micros > MID  # full year now, plus carry
    assert new_budget(employee=org["erin"]).allocated_micros == MID  # allocation only

    pool = new_budget(team=org["team"])
    assert pool.allocated_micros == 0  # team pools carry nothing by default
    assert Budget.objects.get(team=org["team"], fiscal_year=2026).allocated_micros == 0
    assert new_budget(project=org["ended"]) is None
    assert Budget.objects.get(project=org["ended"], fiscal_year=2026).allocated_micros == 0
    running = new_budget(project=org["running"])
    assert running.allocated_micros == 25 * K  # a running project keeps what it has left

    for entry in LedgerEntry.objects.filter(budget__fiscal_year=2027):
        assert entry.rollover_run_id == result.run.pk
    run = result.run
    assert run.state == RolloverState.DONE
    assert run.owners_done == run.owners_total == 8
    assert run.done_carried_micros == run.carried_micros
    assert run.done_unused_micros == run.done_carried_micros + run.done_forfeited_micros
    # every budget still equals the sum of its entries
    for budget in Budget.objects.all():
        allocated = sum(
            budget.entries.exclude(kind__in=["usage", "usage_correction"]).values_list(
                "amount_micros", flat=True
            )
        )
        assert allocated == budget.allocated_micros


def test_running_twice_changes_nothing_the_second_time_and_says_so(org):
    commit()
    before = ledger_signature()

    again = rollover_execute(run=RolloverRun.objects.get(fiscal_year=2026))
    out = StringIO()
    call_command("rollover", fiscal_year=2026, stdout=out)

    assert again.already_done
    assert "already rolled over" in out.getvalue()
    assert "nothing changed" in out.getvalue()
    assert ledger_signature() == before


def test_stopping_after_k_chunks_then_resuming_gives_the_ledger_of_one_clean_run(org):
    with transaction.atomic():
        point = transaction.savepoint()
        commit(chunk_size=2)
        clean = ledger_signature()
        transaction.savepoint_rollback(point)

    assert not RolloverRun.objects.exists()
    partial = commit(chunk_size=2, max_chunks=2)
    assert not partial.finished
    assert RolloverItem.objects.count() == 4
    assert partial.run.state == RolloverState.RUNNING
    resumed = rollover_execute(run=partial.run, chunk_size=2)

    assert resumed.finished
    assert ledger_signature() == clean


def test_a_crash_mid_chunk_leaves_nothing_of_that_chunk_and_resuming_matches_a_clean_run(
    org, monkeypatch
):
    with transaction.atomic():
        point = transaction.savepoint()
        commit(chunk_size=3)
        clean = ledger_signature()
        transaction.savepoint_rollback(point)

    calls = []
    totals_add = rollover_module.totals_add

    def crash_in_second_chunk(moves):
        # the chunk's entries and items are written; its totals too, then the worker dies
        totals_add(moves)
        calls.append(len(moves))
        if len(calls) == 2:
            raise RuntimeError("worker killed")

    monkeypatch.setattr(rollover_module, "totals_add", crash_in_second_chunk)
    with pytest.raises(RuntimeError):
        commit(chunk_size=3)
    run = RolloverRun.objects.get(fiscal_year=2026)
    assert run.state == RolloverState.FAILED
    assert "worker killed" in run.errors[-1]["error"]
    assert run.owners_done == 3  # the first chunk only; the second rolled back whole
    assert RolloverItem.objects.count() == 3

    monkeypatch.setattr(rollover_module, "totals_add", totals_add)
    rollover_confirm(run=run, acting_user=finance_user(), enqueue=False)  # resume
    resumed = rollover_execute(run=run, chunk_size=3)

    assert resumed.finished
    assert ledger_signature() == clean


def test_a_runner_that_finishes_after_another_failed_marks_the_run_done(org, monkeypatch):
    # given a run whose other runner fails while this one is still going
    calls = []
    totals_add = rollover_module.totals_add

    def another_runner_fails(moves):
        totals_add(moves)
        calls.append(len(moves))
        if len(calls) == 2:
            run = RolloverRun.objects.get(fiscal_year=2026)
            rollover_module._fail(run, RuntimeError("the other worker was killed"))

    monkeypatch.setattr(rollover_module, "totals_add", another_runner_fails)
    # when this runner goes on to the end (its own chunks commit; the other's rolled back)
    result = commit(chunk_size=3)
    # then its waiting pass found nothing left, so the run is done, not left failed
    assert result.finished
    run = RolloverRun.objects.get(fiscal_year=2026)
    assert run.state == RolloverState.DONE
    assert run.owners_done == RolloverItem.objects.filter(run=run).count() == run.owners_total


def test_the_preview_moves_nothing_and_matches_what_the_commit_does(org):
    before = ledger_signature()
    out = StringIO()

    call_command("rollover", fiscal_year=2026, dry_run=True, csv="-", stdout=out)

    assert ledger_signature() == before
    text = out.getvalue()
    assert "Dry run: nothing was changed." in text
    assert org["alice"].email in text
    assert "tokens_at_new_rate" in text
    run = RolloverRun.objects.get(fiscal_year=2026)
    assert run.state == RolloverState.PREVIEWED
    previewed = (run.carried_micros, run.forfeited_micros, run.allocated_micros)
    assert run.breakdown["Level mid"][0] >= 3

    done = commit().run

    assert (done.done_carried_micros, done.done_forfeited_micros, done.done_allocated_micros) == (
        previewed
    )


def test_policies_per_level_and_per_team_override_the_company_default(org, company):
    CarryoverPolicy.objects.create(
        applies_to=CarryoverAppliesTo.PERSONAL,
        level=Level.objects.get(name="mid"),
        share_percent=Decimal(100),
        cap_percent_of_allocation=Decimal(20),
    )
    CarryoverPolicy.objects.create(
        applies_to=CarryoverAppliesTo.TEAM_POOL, team=org["team"], share_percent=Decimal(50)
    )
    CarryoverPolicy.objects.create(
        applies_to=CarryoverAppliesTo.PERSONAL,
        team=org["alice"].team,
        share_percent=Decimal(10),
        expiry_months=0,
    )

    commit()

    alice = new_budget(employee=org["alice"])  # team rule wins: 10 % of $60,000, never expires
    assert alice.carried_over_micros == 6 * K
    assert alice.carryover_expires_on is None
    # bob is senior now; the mid rule does not apply, the company's 50 % does
    assert new_budget(employee=org["bob"]).carried_over_micros == 50 * K
    dan = new_budget(employee=org["dan"])  # mid: all of it, capped at 20 % of $100,000
    assert dan.carried_over_micros == min(20 * K, dan.carried_over_micros)
    assert new_budget(team=org["team"]).allocated_micros == 5 * K


def test_only_finance_confirms_and_a_done_run_cannot_be_confirmed_again(org):
    run = rollover_preview(fiscal_year=2026, acting_user=None)

    with pytest.raises(AllotError, match="Only finance"):
        rollover_confirm(run=run, acting_user=hr_user(), enqueue=False)
    rollover_confirm(run=run, acting_user=finance_user(), enqueue=False)
    rollover_execute(run=run)
    with pytest.raises(AllotError, match="already rolled over"):
        rollover_confirm(run=run, acting_user=finance_user(), enqueue=False)


def test_an_unconfirmed_run_does_not_commit(org):
    run = rollover_preview(fiscal_year=2026, acting_user=None)

    with pytest.raises(AllotError, match="confirms it first"):
        rollover_execute(run=run)
    assert not RolloverItem.objects.exists()


def test_a_year_without_budgets_is_a_clear_error():
    out = StringIO()
    with pytest.raises(Exception, match="no budgets in FY2031"):
        call_command("rollover", fiscal_year=2031, dry_run=True, stdout=out)


def test_the_scheduled_start_waits_for_finance_unless_the_company_opted_in(
    org, company, django_capture_on_commit_callbacks
):
    finance = finance_user()

    outcome = rollover_scheduled_step(today=date(2027, 1, 1))

    assert "waiting for finance" in outcome
    assert RolloverRun.objects.get(fiscal_year=2026).state == RolloverState.PREVIEWED
    assert finance.notifications.filter(message__contains="FY2026 rollover").exists()
    assert "waiting" in rollover_scheduled_step(today=date(2027, 1, 2))
    assert finance.notifications.count() == 1  # told once
    (previewed,) = finance.notifications.all()
    run = RolloverRun.objects.get(fiscal_year=2026)
    assert previewed.kind == "rollover"
    assert previewed.subject == "Allot: the FY2026 rollover waits for finance to confirm"
    assert previewed.link == f"/admin/budgets/rolloverrun/{run.pk}/change/"

    company.rollover_automatic = True
    company.save()
    with django_capture_on_commit_callbacks(execute=True):  # the task runs eagerly on commit
        assert "automatically" in rollover_scheduled_step(today=date(2027, 1, 3))
    assert RolloverRun.objects.get(fiscal_year=2026).state == RolloverState.DONE
    assert "nothing to do" in rollover_scheduled_step(today=date(2027, 1, 4))
    previewed.refresh_from_db()
    assert previewed.done_at is not None  # the ask to confirm is answered
    done = finance.notifications.get(subject="Allot: the FY2026 rollover is done")
    assert done.link == previewed.link and "carried over" in done.message


def test_carried_money_spent_first_expires_only_in_its_unspent_part(org):
    commit()
    alice = new_budget(employee=org["alice"])  # $30,000 carried, expires 2027-04-01
    with time_machine.travel(datetime(2027, 3, 15, tzinfo=UTC)):
        spend(org["alice"], 12 * K, on=datetime(2027, 2, 1, 12, tzinfo=UTC), event="feb")
        spend(org["alice"], 1 * K, on=datetime(2027, 3, 10, 12, tzinfo=UTC), event="mar")

    assert carryover_expire_due(today=date(2027, 3, 31)) == (0, 0)  # not yet
    with time_machine.travel(datetime(2027, 4, 5, tzinfo=UTC)):
        spend(org["alice"], 50 * K, on=datetime(2027, 4, 2, 12, tzinfo=UTC), event="apr")
    expired = carryover_expire_due(today=date(2027, 4, 1))

    bob_and_dan = sum(
        new_budget(employee=org[name]).carried_over_micros for name in ("bob", "dan")
    )  # they spent nothing: all of theirs goes
    assert expired == (3, 17 * K + bob_and_dan)  # alice: $30,000 carried - $13,000 spent
    alice.refresh_from_db()
    assert alice.allocated_micros == MID + 13 * K
    entry = alice.entries.get(kind=EntryKind.EXPIRY)
    assert entry.amount_micros == -17 * K
    assert entry.rollover_run.fiscal_year == 2026
    assert carryover_expire_due(today=date(2027, 4, 2)) == (0, 0)  # once


def test_carried_money_held_by_a_call_in_flight_expires_once_the_hold_is_gone(org):
    # Found by the invariant test: the expiry took carried money a hold still had, and took a
    # hard budget past its limit.
    from budgets.authorize import authorize
    from budgets.models import Enforcement
    from budgets.reservations import reservation_release
    from budgets.rollover import carryover_expiry_late_usage

    # given alice's hard FY2027 budget: $100,000 plus $30,000 carried, expiring 2027-04-01, and
    # a call in flight holding $120,000 of it on March 31
    commit()
    alice = new_budget(employee=org["alice"])
    Budget.objects.filter(pk=alice.pk).update(enforcement=Enforcement.HARD)
    with time_machine.travel(datetime(2027, 3, 31, 20, tzinfo=UTC)):
        held = authorize(
            employee=org["alice"],
            estimated_cost_micros=120 * K,
            reserve=True,
            source="test",
            request_id="in-flight",
            hold_seconds=3 * 24 * 3600,
        ).reservation
    assert held is not None
    # when the expiry runs: it takes only what the hold leaves free
    with time_machine.travel(datetime(2027, 4, 1, 9, tzinfo=UTC)):
        carryover_expire_due(today=date(2027, 4, 1))
    alice.refresh_from_db()
    assert alice.entries.get(kind=EntryKind.EXPIRY).amount_micros == -10 * K
    assert alice.spent_micros + alice.reserved_micros <= alice.limit_micros
    # and once the call is released unspent, the next night's pass expires the rest, once
    with time_machine.travel(datetime(2027, 4, 1, 12, tzinfo=UTC)):
        reservation_release(reservation_id=held.pk, source="test")
    assert carryover_expiry_late_usage(today=date(2027, 4, 2)) == (0, 0)  # nothing given back
    assert carryover_expiry_late_usage(today=date(2027, 4, 3)) == (0, 0)
    alice.refresh_from_db()
    expiry = alice.entries.filter(kind=EntryKind.EXPIRY).values_list("amount_micros", flat=True)
    assert sorted(expiry) == [-20 * K, -10 * K]
    assert alice.allocated_micros == MID  # all $30,000 carried, unspent, expired


def test_carried_money_held_on_the_day_and_then_spent_does_not_expire(org):
    from budgets.authorize import authorize
    from budgets.models import Enforcement
    from budgets.rollover import carryover_expiry_late_usage
    from budgets.usage import usage_ingest

    # given alice's hard FY2027 budget ($100,000 + $30,000 carried), $20,000 spent in February
    # (spending draws the carried money first: $10,000 of it is due to expire), and a call in
    # flight on March 31 holding $105,000, which leaves $5,000 free
    commit()
    alice = new_budget(employee=org["alice"])
    Budget.objects.filter(pk=alice.pk).update(enforcement=Enforcement.HARD)
    with time_machine.travel(datetime(2027, 3, 31, 20, tzinfo=UTC)):
        spend(org["alice"], 20 * K, on=datetime(2027, 2, 1, 12, tzinfo=UTC), event="feb")
        held = authorize(
            employee=org["alice"],
            estimated_cost_micros=105 * K,
            reserve=True,
            source="test",
            request_id="in-flight",
            hold_seconds=3 * 24 * 3600,
        ).reservation
    with time_machine.travel(datetime(2027, 4, 1, 9, tzinfo=UTC)):
        carryover_expire_due(today=date(2027, 4, 1))
        alice.refresh_from_db()
        assert alice.entries.get(kind=EntryKind.EXPIRY).amount_micros == -5 * K
        # when the call made on March 31 settles for $95,000 the next morning
        event = {
            "id": "in-flight-usage",
            "employee": org["alice"].email,
            "model": "m",
            "input_tokens": 1,
            "output_tokens": 1,
            "cost_usd": "95000.00",
            "occurred_at": datetime(2027, 3, 31, 20, tzinfo=UTC).isoformat(),
            "reservation": str(held.pk),
        }
        assert usage_ingest(events=[event], source="test").accepted == 1
    # then all the carried money was spent before the date: the $5,000 comes back, nothing expires
    assert carryover_expiry_late_usage(today=date(2027, 4, 2)) == (1, 5 * K)
    assert carryover_expiry_late_usage(today=date(2027, 4, 3)) == (0, 0)
    alice.refresh_from_db()
    expiry = alice.entries.filter(kind=EntryKind.EXPIRY).values_list("amount_micros", flat=True)
    assert sum(expiry) == 0
    assert alice.allocated_micros == MID + 30 * K
    assert alice.spent_micros + alice.reserved_micros <= alice.limit_micros


def test_a_manual_allocation_of_the_new_year_is_not_posted_twice(org):
    employee_allocate_from_level(employee=org["erin"], fiscal_year=2027, acting_user=None)

    commit()

    assert new_budget(employee=org["erin"]).allocated_micros == MID


def test_a_price_fall_shows_in_the_preview_and_on_the_new_years_dashboard(client, company):
    from tests.factories import price

    price("m", input_usd="10", output_usd="10")
    price("m", input_usd="8", output_usd="8", since=datetime(2026, 7, 1, tzinfo=UTC))
    engineer = EmployeeFactory()
    employee_allocate_from_level(employee=engineer, fiscal_year=2026, acting_user=None)
    usage_post(
        employee=engineer,
        event_id="priced",
        model_name="m",
        occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
        input_tokens=1_000_000,
        output_tokens=1_000_000,
    )

    run = commit().run

    assert run.reference_rate_before == Decimal("0.0001")
    assert run.reference_rate_after == Decimal("0.00008")  # prices fell 20 %
    with time_machine.travel(datetime(2027, 2, 1, 12, tzinfo=UTC)):
        client.force_login(engineer.user)
        page = client.get("/").content.decode()
    budget = new_budget(employee=engineer)
    remaining_dollars = budget.allocated_micros // 10**6
    assert "Tokens left at this year" in page
    assert f"{remaining_dollars * 12_500:,}" in page  # $1 buys 12,500 tokens at $0.00008
    assert f"{remaining_dollars * 10_000:,}" in page  # and 10,000 at last year's $0.0001
    assert "Carried over" in page
    assert "expires Apr 1, 2027" in page


def test_someone_starting_during_the_new_year_gets_a_prorated_allocation(org):
    starter = EmployeeFactory(hire_date=date(2027, 7, 2))  # 183 of 365 days left

    commit()

    budget = new_budget(employee=starter)
    assert budget.allocated_micros == 50_136_986_301  # $100,000 x 183 / 365, to the micro
    item = RolloverItem.objects.get(employee=starter)
    assert item.outcome == "new allocation only"


def test_allocation_by_project_impact_gives_no_level_budgets(org, company):
    company.allocation_model = "projects"
    company.save()

    commit()

    assert new_budget(employee=org["erin"]) is None or (
        new_budget(employee=org["erin"]).allocated_micros == 0
    )
    assert new_budget(employee=org["alice"]).allocated_micros == 30 * K  # the carryover only
    assert new_budget(project=org["running"]).allocated_micros == 25 * K
    assert not LedgerEntry.objects.filter(
        kind=EntryKind.ALLOCATION, budget__fiscal_year=2027
    ).exists()


def test_every_beat_entry_names_a_registered_task_with_a_time_limit(settings):
    from config.celery import app

    app.loader.import_default_modules()
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert {"budgets.rollover_scheduled", "budgets.carryover_expire"} <= names
    for name in names:
        task = app.tasks[name]
        assert task.time_limit or task.soft_time_limit, name


def test_the_daily_expiry_task_runs_the_service_and_is_idempotent(org):
    from budgets.tasks import carryover_expire

    commit()
    with time_machine.travel(datetime(2027, 4, 2, 12, tzinfo=UTC)):
        first = carryover_expire.delay().get()
        second = carryover_expire.delay().get()

    assert first == 3 and second == 0
    assert LedgerEntry.objects.filter(kind=EntryKind.EXPIRY).count() == 3


def test_usage_before_the_expiry_date_reported_after_the_expiry_gets_the_carried_money_back(org):
    # given alice's $30,000 carried into FY2027, unspent, expiring 2027-04-01: the nightly run
    # (04:45 company time) expires all of it
    from budgets.rollover import carryover_expiry_late_usage
    from tests.budgets.test_ledger import assert_totals_match_entries

    commit()
    alice = new_budget(employee=org["alice"])
    with time_machine.travel(datetime(2027, 4, 1, 9, 0, tzinfo=UTC)):
        assert carryover_expire_due(today=date(2027, 4, 1))[0] == 3  # alice, bob and dan
        assert alice.entries.get(kind=EntryKind.EXPIRY).amount_micros == -30 * K
        # when a call made at 23:30 on March 31 (company time) is reported in the morning
        spend(org["alice"], 15 * K, on=datetime(2027, 4, 1, 3, 30, tzinfo=UTC), event="late")
    # then the next night gives back what it drew of the carried money, once
    assert carryover_expiry_late_usage(today=date(2027, 4, 2)) == (1, 15 * K)
    assert carryover_expiry_late_usage(today=date(2027, 4, 3)) == (0, 0)
    alice.refresh_from_db()
    expiry = alice.entries.filter(kind=EntryKind.EXPIRY).values_list("amount_micros", flat=True)
    assert sorted(expiry) == [-30 * K, 15 * K]
    assert alice.allocated_micros == MID + 15 * K  # the carried $15,000 it drew stays spent
    assert_totals_match_entries(alice)
    # and usage after the expiry date draws nothing back
    with time_machine.travel(datetime(2027, 4, 3, 12, tzinfo=UTC)):
        spend(org["alice"], 5 * K, on=datetime(2027, 4, 2, 12, tzinfo=UTC), event="after")
    assert carryover_expiry_late_usage(today=date(2027, 4, 3)) == (0, 0)


def test_carried_money_of_a_closed_year_is_not_taken_again_by_expiry(org, company):
    # given FY2027's carryover expiring 12 months in, on the first day of FY2028
    company.carryover_expiry_months = 12
    company.save()
    commit()
    alice = new_budget(employee=org["alice"])
    assert alice.carryover_expires_on == date(2028, 1, 1)
    # when FY2027 is closed (its unused money, the unspent carryover in it, is split) and the
    # expiry comes due afterwards
    with time_machine.travel(datetime(2028, 1, 1, 12, tzinfo=UTC)):
        assert commit(fiscal_year=2027).finished
        alice.refresh_from_db()
        assert alice.remaining_micros == 0
        assert carryover_expire_due(today=date(2028, 1, 2)) == (0, 0)
    # then nothing is taken twice: the budget stays at zero unused and equal to its entries
    alice.refresh_from_db()
    assert (alice.remaining_micros, alice.carryover_expired_on) == (0, date(2028, 1, 2))
    assert not alice.entries.filter(kind=EntryKind.EXPIRY).exists()
    from tests.budgets.test_ledger import assert_totals_match_entries

    assert_totals_match_entries(alice)
