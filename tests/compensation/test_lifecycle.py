"""The offer's life: every legal move, a sample of illegal ones, approvals through the one
engine (in band: the hiring manager; outside: the chain grows), rounds and expiry."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django_fsm_log.models import StateLog

from approvals.models import RequestState, StepRole
from approvals.services import request_decide
from common.errors import AllotError
from compensation.admin.actions import offer_buttons
from compensation.models import Offer, OfferRound, OfferState
from compensation.selectors import round_changes, rounds_compared
from compensation.services import (
    offer_accept,
    offer_counter_record,
    offer_decline,
    offer_reopen,
    offer_save,
    offer_send,
    offer_submit,
    offer_withdraw,
    transition_sources,
)
from compensation.tasks import expire as expire_task
from people.selectors import company_today
from tests.compensation.conftest import K, make_offer


def steps_of(request):
    return [(s.role, s.approver_id) for s in request.steps.order_by("index")]


def approved_offer(org, **package) -> Offer:
    offer = make_offer(org, **package)
    request = offer_submit(offer=offer, acting_user=org["hr"])
    for step in request.steps.order_by("index"):
        request_decide(request=request, user=step.approver or org["finance"], approve=True)
    offer.refresh_from_db()
    return offer


def sent_offer(org, **package) -> Offer:
    offer = approved_offer(org, **package)
    offer_send(offer=offer, acting_user=org["hr"])
    offer.refresh_from_db()
    return offer


def test_a_new_offer_is_a_draft_with_the_band_target_as_token_budget(org):
    offer = make_offer(org)
    assert offer.state == OfferState.DRAFT
    assert offer.token_budget_micros == 150_000 * K  # senior band target (the level default)
    assert offer.round_number == 1 and offer.rounds.count() == 1


def test_within_the_bands_the_hiring_manager_alone_approves(org):
    # given an offer inside the senior bands
    offer = make_offer(org)
    # when HR submits it
    request = offer_submit(offer=offer, acting_user=org["hr"])
    # then it waits for the hiring manager only, and their yes approves the offer
    assert steps_of(request) == [(StepRole.MANAGER, org["manager"].user_id)]
    offer.refresh_from_db()
    assert offer.state == OfferState.PENDING_APPROVAL
    request_decide(request=request, user=org["manager"].user, approve=True)
    offer.refresh_from_db()
    assert offer.state == OfferState.APPROVED
    round_ = offer.rounds.get(number=1)
    assert round_.decided_by == org["manager"].user and round_.outside_bands_micros == 0


def test_outside_a_band_the_skip_level_must_approve_too(org):
    # given a token budget $30,000 over the senior maximum ($180,000)
    offer = make_offer(org, token_budget_micros=210_000 * K)
    request = offer_submit(offer=offer, acting_user=org["hr"])
    assert steps_of(request) == [
        (StepRole.MANAGER, org["manager"].user_id),
        (StepRole.SKIP_LEVEL, org["director"].user_id),
    ]
    # when only the hiring manager approves, the offer is still pending
    request_decide(request=request, user=org["manager"].user, approve=True)
    offer.refresh_from_db()
    assert offer.state == OfferState.PENDING_APPROVAL
    request_decide(request=request, user=org["director"].user, approve=True)
    offer.refresh_from_db()
    assert offer.state == OfferState.APPROVED


def test_far_outside_the_bands_finance_decides_last(org):
    offer = make_offer(org, base_salary_micros=400_000 * K)  # $180,000 over the max
    request = offer_submit(offer=offer, acting_user=org["hr"])
    assert [role for role, _ in steps_of(request)] == ["manager", "skip_level", "finance"]
    assert request.details["bands"][0].startswith("Base salary is $180,000.00 above the band")
    assert request.details["outside_bands_usd"] == "180000.000000"


def test_nobody_approves_their_own_offer(org):
    # given the hiring manager submits their own hire's offer
    offer = make_offer(org)
    request = offer_submit(offer=offer, acting_user=org["manager"].user)
    # then it goes to the person above them, and they cannot decide it
    assert steps_of(request) == [(StepRole.MANAGER, org["director"].user_id)]
    with pytest.raises(AllotError, match="cannot decide"):
        request_decide(request=request, user=org["manager"].user, approve=True)


def test_refused_approval_goes_back_to_draft_and_can_be_resubmitted(org):
    offer = make_offer(org)
    request = offer_submit(offer=offer, acting_user=org["hr"])
    with pytest.raises(AllotError, match="only when its approval was refused"):
        offer_reopen(offer=offer, acting_user=org["hr"])
    request_decide(request=request, user=org["manager"].user, approve=False, comment="too high")
    offer.refresh_from_db()
    assert offer.state == OfferState.PENDING_APPROVAL
    offer_reopen(offer=offer, acting_user=org["hr"])
    offer.refresh_from_db()
    assert offer.state == OfferState.DRAFT
    offer.base_salary_micros = 180_000 * K
    offer_save(offer=offer, acting_user=org["hr"])
    second = offer_submit(offer=offer, acting_user=org["hr"])
    request_decide(request=second, user=org["manager"].user, approve=True)
    offer.refresh_from_db()
    assert offer.state == OfferState.APPROVED


def test_sent_offers_can_be_accepted(org):
    offer = sent_offer(org)
    assert offer.state == OfferState.SENT and offer.response_deadline > company_today()
    offer_accept(offer=offer, acting_user=org["hr"])
    offer.refresh_from_db()
    assert offer.state == OfferState.ACCEPTED


def test_an_offer_past_its_deadline_cannot_be_accepted_before_the_nightly_expiry(org):
    # given a sent offer whose answer was due yesterday, not yet expired by the nightly job
    offer = sent_offer(org)
    Offer.objects.filter(pk=offer.pk).update(response_deadline=company_today() - timedelta(days=1))
    offer.refresh_from_db()
    assert offer.state == OfferState.SENT
    # then accepting it is refused, and no one is hired
    with pytest.raises(AllotError, match="had to be answered by"):
        offer_accept(offer=offer, acting_user=org["hr"])
    offer.refresh_from_db()
    assert offer.state == OfferState.SENT and offer.employee_id is None


@pytest.mark.parametrize("state_maker", ["sent", "countered"])
def test_sent_or_countered_offers_can_be_declined(org, state_maker):
    offer = sent_offer(org)
    if state_maker == "countered":
        offer_counter_record(offer=offer, acting_user=org["hr"], candidate_ask="more stock")
    offer_decline(offer=offer, acting_user=org["hr"], reason="took another offer")
    offer.refresh_from_db()
    assert offer.state == OfferState.DECLINED and offer.closed_at is not None


@pytest.mark.parametrize("stage", ["draft", "pending", "approved", "sent", "countered"])
def test_open_offers_can_be_withdrawn(org, stage):
    offer = make_offer(org)
    request = None
    if stage != "draft":
        request = offer_submit(offer=offer, acting_user=org["hr"])
    if stage in ("approved", "sent", "countered"):
        request_decide(request=request, user=org["manager"].user, approve=True)
    if stage in ("sent", "countered"):
        offer_send(offer=offer, acting_user=org["hr"])
    if stage == "countered":
        offer_counter_record(offer=offer, acting_user=org["hr"], candidate_ask="remote")
    offer_withdraw(offer=offer, acting_user=org["hr"], reason="role closed")
    offer.refresh_from_db()
    assert offer.state == OfferState.WITHDRAWN
    if stage == "pending":  # the approval in review is withdrawn with it
        request.refresh_from_db()
        assert request.state == RequestState.WITHDRAWN


def test_illegal_moves_are_refused_with_a_clear_message(org):
    offer = make_offer(org)
    with pytest.raises(AllotError, match="is draft: it cannot be sent. Only an approved offer can"):
        offer_send(offer=offer, acting_user=org["hr"])
    with pytest.raises(AllotError, match="cannot be marked accepted. Only a sent offer can"):
        offer_accept(offer=offer, acting_user=org["hr"])
    with pytest.raises(AllotError, match="cannot be given a counter-offer"):
        offer_counter_record(offer=offer, acting_user=org["hr"], candidate_ask="more")
    offer_submit(offer=offer, acting_user=org["hr"])
    with pytest.raises(AllotError, match="is pending approval: it cannot be submitted"):
        offer_submit(offer=offer, acting_user=org["hr"])
    with pytest.raises(AllotError, match="its package can change only in draft"):
        offer.base_salary_micros += 1
        offer_save(offer=offer, acting_user=org["hr"])
    offer_withdraw(offer=offer, acting_user=org["hr"])
    with pytest.raises(AllotError, match="is withdrawn: it cannot be sent"):
        offer_send(offer=offer, acting_user=org["hr"])
    with pytest.raises(AllotError, match="is withdrawn: it cannot be marked declined"):
        offer_decline(offer=offer, acting_user=org["hr"])
    offer.refresh_from_db()
    assert offer.state == OfferState.WITHDRAWN


@pytest.mark.parametrize(
    ("state", "buttons"),
    [
        (OfferState.DRAFT, ["Submit for approval", "Generate draft letter", "Withdraw"]),
        (OfferState.PENDING_APPROVAL, ["Back to draft", "Generate draft letter", "Withdraw"]),
        (OfferState.APPROVED, ["Generate letter", "Mark sent", "Withdraw"]),
        (
            OfferState.SENT,
            [
                "Generate letter",
                "Record counter-offer",
                "Mark accepted",
                "Mark declined",
                "Withdraw",
            ],
        ),
        (
            OfferState.COUNTERED,
            ["Submit for approval", "Generate draft letter", "Mark declined", "Withdraw"],
        ),
        (OfferState.ACCEPTED, []),
        (OfferState.DECLINED, []),
        (OfferState.WITHDRAWN, []),
        (OfferState.EXPIRED, []),
    ],
)
def test_the_buttons_of_each_state_are_the_moves_the_state_machine_allows(state, buttons):
    assert [label for _, label in offer_buttons(Offer(state=state))] == buttons


def test_a_refusal_names_the_states_the_state_machine_starts_the_move_from(org):
    assert transition_sources("decline") == {OfferState.SENT, OfferState.COUNTERED}
    offer = make_offer(org)
    with pytest.raises(AllotError, match="Only a sent offer or a countered offer can"):
        offer_decline(offer=offer, acting_user=org["hr"])
    with pytest.raises(AllotError, match="Only an offer pending approval can"):
        offer_reopen(offer=offer, acting_user=org["hr"])
    offer_withdraw(offer=offer, acting_user=org["hr"])
    with pytest.raises(AllotError, match="cannot be withdrawn. Only an offer still open can"):
        offer_withdraw(offer=offer, acting_user=org["hr"])


def test_a_counter_offer_opens_a_round_and_a_new_round_outside_the_band_needs_more_approval(org):
    # given a sent offer within the band
    offer = sent_offer(org)
    # when the candidate counters and HR raises base and tokens past the bands
    ask = "$200k base and $200k tokens instead of options"
    offer_counter_record(offer=offer, acting_user=org["hr"], candidate_ask=ask)
    offer.refresh_from_db()
    assert (offer.state, offer.round_number) == (OfferState.COUNTERED, 2)
    with pytest.raises(AllotError, match="Say why"):
        offer_submit(offer=offer, acting_user=org["hr"])
    offer.base_salary_micros = 200_000 * K
    offer.trade_direction = "stock_to_tokens"
    offer.trade_amount_micros = 40_000 * K
    offer.token_budget_micros = 160_000 * K
    offer_save(offer=offer, acting_user=org["hr"])
    request = offer_submit(offer=offer, acting_user=org["hr"], reason="strong candidate")
    # then the round goes back through the higher chain (tokens $200,000 > max $180,000)
    assert [role for role, _ in steps_of(request)] == ["manager", "skip_level"]
    round_two = OfferRound.objects.get(offer=offer, number=2)
    assert round_two.candidate_ask == ask and round_two.reason == "strong candidate"
    assert round_two.outside_bands_micros == 20_000 * K
    # and the rounds compare side by side, with what changed
    changes = round_changes(offer, 2)
    assert "Base salary (USD/year): $190,000.00 → $200,000.00" in changes
    assert "Token budget after trade: $150,000.00 → $200,000.00" in changes
    compared = rounds_compared(offer)
    assert [r.number for r in compared["rounds"]] == [1, 2]
    unchanged = next(row for row in compared["rows"] if row["label"] == "Start date")
    assert not unchanged["changed"]


def test_a_counter_needs_the_candidates_words(org):
    offer = sent_offer(org)
    with pytest.raises(AllotError, match="Write what the candidate asked"):
        offer_counter_record(offer=offer, acting_user=org["hr"], candidate_ask="  ")


def test_expiry_is_on_the_beat_schedule(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "compensation.offers_expire" in tasks


def test_expiry_by_the_beat_task(org, time_machine):
    # given two sent offers, one answering by today and one by yesterday
    late = sent_offer(org)
    Offer.objects.filter(pk=late.pk).update(response_deadline=company_today() - timedelta(days=1))
    on_time = sent_offer(org, email="grace@example.com")
    # when the daily task runs
    expired = expire_task.delay().get()
    # then only the late one expired, with the reason in its log
    assert expired == 1
    late.refresh_from_db()
    on_time.refresh_from_db()
    assert (late.state, on_time.state) == (OfferState.EXPIRED, OfferState.SENT)
    from notifications.models import Notification

    assert Notification.objects.filter(user=org["hr"], message__contains="expired").count() == 1
    log = StateLog.objects.for_(late).latest("timestamp")
    assert (log.source_state, log.state) == ("sent", "expired")
    assert "no answer by" in log.description
    # and an expired offer cannot be accepted any more
    with pytest.raises(AllotError, match="is expired"):
        offer_accept(offer=late, acting_user=org["hr"])
    # a day later the other one expires too; running twice changes nothing more
    time_machine.move_to(
        datetime.combine(on_time.response_deadline, time(12), UTC) + timedelta(days=1)
    )
    assert expire_task.delay().get() == 1
    assert expire_task.delay().get() == 0


def test_every_change_is_in_the_history(org):
    offer = sent_offer(org)
    offer_accept(offer=offer, acting_user=org["hr"])
    moves = [
        (log.source_state, log.state, log.by_id)
        for log in StateLog.objects.for_(offer).order_by("timestamp", "pk")
    ]
    assert moves == [
        ("draft", "pending_approval", org["hr"].pk),
        ("pending_approval", "approved", org["manager"].user_id),
        ("approved", "sent", org["hr"].pk),
        ("sent", "accepted", org["hr"].pk),
    ]
    assert offer.history.count() >= 4  # every save of the package and state, with who
    assert offer.history.earliest().history_type == "+"


def test_a_start_date_is_kept_as_given(org):
    offer = make_offer(org, start_date=date(2027, 1, 4))
    assert Offer.objects.get(pk=offer.pk).start_date == date(2027, 1, 4)
