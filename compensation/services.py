"""Every change to an offer: save the package, submit it for approval (through the approvals
engine), send it with its letter, record a counter-offer, accept (the hire and their budget, in one
transaction), decline, withdraw, expire. The admin actions, the beat task and the seed all call
these; each locks the offer row and refuses an illegal move with a message HR can act on."""

import hashlib
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_fsm import can_proceed

from approvals.models import ApprovalRequest, RequestKind, RequestState
from approvals.selectors import subject_viewers_register
from approvals.services import effect_register, request_submit
from budgets.models import EntryKind
from budgets.services import budget_allocate, budget_create, level_allocation_key
from common.errors import AllotError
from common.money import format_usd, micros_to_dollars
from compensation import letters
from compensation.calculations import (
    TradeDirection,
    TradeError,
    first_year_budget,
    outside_bands_micros,
)
from compensation.models import (
    CLOSED_STATES,
    EDITABLE_STATES,
    ExchangeRate,
    LevelBand,
    Offer,
    OfferLetter,
    OfferRound,
    OfferState,
    PayRecord,
    PaySource,
    policy,
)
from compensation.selectors import offer_request_viewers
from notifications.kinds import Kind
from notifications.services import notify
from people.models import Employee
from people.roles import ENGINEERS, FINANCE, HR, has_role
from people.selectors import company_settings, company_today

User = AbstractBaseUser

VERBS = {
    "submit": "submitted for approval",
    "approve": "approved",
    "reopen": "reopened for changes",
    "send": "sent",
    "accept": "marked accepted",
    "decline": "marked declined",
    "counter": "given a counter-offer",
    "withdraw": "withdrawn",
    "expire": "expired",
}
# How a refusal names the states a move starts from; which states those are is the state
# machine's (each transition's `source` on Offer), read by `_sources_phrase`.
STATE_PHRASES = {
    OfferState.DRAFT: "a draft",
    OfferState.PENDING_APPROVAL: "an offer pending approval",
    OfferState.APPROVED: "an approved offer",
    OfferState.SENT: "a sent offer",
    OfferState.COUNTERED: "a countered offer",
}
OPEN_STATES = frozenset(STATE_PHRASES)


def transition_sources(name: str) -> frozenset[str]:
    """The states the Offer transition `name` may start from, as the state machine declares."""
    return frozenset(getattr(Offer, name)._django_fsm.transitions)


def _sources_phrase(name: str) -> str:
    sources = transition_sources(name)
    if sources == OPEN_STATES:
        return "an offer still open"
    phrases = [STATE_PHRASES[state] for state in OfferState if state in sources]
    return " or ".join(phrases)


def _locked(offer: Offer) -> Offer:
    return (
        Offer.objects.select_for_update(of=("self",))
        .select_related("candidate", "level", "team", "hiring_manager__user")
        .get(pk=offer.pk)
    )


def _move(offer: Offer, name: str, *, by: User | None, description: str = "") -> None:
    """Run a transition or explain why it is not allowed."""
    method = getattr(offer, name)
    if not can_proceed(method):
        raise AllotError(
            f"Offer #{offer.pk} is {offer.get_state_display().lower()}: it cannot be "
            f"{VERBS[name]}. Only {_sources_phrase(name)} can.",
            code="conflict",
        )
    method(by=by, description=description or VERBS[name])


def _current_round(offer: Offer) -> OfferRound:
    round_, _ = OfferRound.objects.get_or_create(offer=offer, number=offer.round_number)
    return round_


@transaction.atomic
def offer_save(*, offer: Offer, acting_user: User | None) -> Offer:
    """Create or change an offer's package (only a draft or a countered offer can change; an
    open offer's response deadline can move at any time): the token budget starts at the level
    band's target, and a trade keeps the policy's rate of the day it was set."""
    current = None
    if offer.pk:
        current = Offer.objects.select_for_update().get(pk=offer.pk)
        offer.state = current.state  # the state moves only through transitions
        if current.state not in EDITABLE_STATES:
            return _deadline_only(offer=offer, current=current)
    else:
        offer.created_by = offer.created_by or acting_user
    if offer.token_budget_micros is None:
        offer.token_budget_micros = offer.token_budget_offered_micros
    if offer.trade_direction == TradeDirection.NONE:
        offer.trade_amount_micros, offer.trade_rate = 0, None
    elif (
        current is None
        or current.trade_direction != offer.trade_direction
        or current.trade_amount_micros != offer.trade_amount_micros
        or current.trade_rate is None
    ):
        rules = policy()
        offer.trade_rate = (
            rules.stock_to_token_rate
            if offer.trade_direction == TradeDirection.STOCK_TO_TOKENS
            else rules.token_to_stock_rate
        )
    else:
        offer.trade_rate = current.trade_rate
    try:
        offer.trade_checked()
    except TradeError as exc:
        raise AllotError(str(exc), field="trade_amount_micros") from exc
    offer.full_clean()
    offer.save()
    _current_round(offer)
    return offer


def _package(offer: Offer) -> tuple:
    return (offer.candidate_id, offer.hiring_manager_id, *offer.package_snapshot().values())


def _deadline_only(*, offer: Offer, current: Offer) -> Offer:
    """Past draft the package is fixed; only the response deadline of an open offer moves."""
    if _package(offer) != _package(current):
        raise AllotError(
            f"Offer #{offer.pk} is {current.get_state_display().lower()}; its package can "
            "change only in draft or after a counter-offer.",
            code="conflict",
        )
    if offer.response_deadline != current.response_deadline:
        if current.state in CLOSED_STATES:
            raise AllotError(f"Offer #{offer.pk} is closed; its deadline no longer matters.")
        if offer.response_deadline is None or offer.response_deadline < company_today():
            raise AllotError("Give a response deadline from today on.", field="response_deadline")
        current.response_deadline = offer.response_deadline
        current.save(update_fields=["response_deadline"])
    return current


def _approval_reason(offer: Offer, round_: OfferRound) -> str:
    lines = [
        f"Offer to {offer.candidate} as {offer.position_title} ({offer.level}, {offer.team}), "
        f"starting {offer.start_date:%b %-d, %Y}; round {round_.number}.",
        f"Total annual value {offer.total_annual_value_display}: "
        + "; ".join(f"{line.label} {format_usd(line.amount_micros)}" for line in offer.lines()),
    ]
    lines += [check.message for check in offer.band_checks()]
    if round_.candidate_ask:
        lines.append(f"The candidate asked: {round_.candidate_ask}")
    if round_.reason:
        lines.append(f"Why: {round_.reason}")
    return "\n".join(lines)


@transaction.atomic
def offer_submit(*, offer: Offer, acting_user: User, reason: str = "") -> ApprovalRequest:
    """Freeze the round's package and ask for approval: within the level's bands the hiring
    manager decides; outside them (or over the token maximum) the chain grows with how far."""
    offer = _locked(offer)
    if not LevelBand.objects.filter(level_id=offer.level_id).exists():
        raise AllotError(f"Level {offer.level} has no band yet; HR sets it first.", field="level")
    round_ = _current_round(offer)
    if round_.number > 1 and not reason.strip():
        raise AllotError("Say why this round's package is what it is.", field="reason")
    _move(offer, "submit", by=acting_user)
    checks = offer.band_checks()
    outside = outside_bands_micros(checks)
    round_.package = offer.package_snapshot()
    round_.reason = reason.strip()
    round_.outside_bands_micros = outside
    round_.submitted_by = acting_user
    # The hire-to-be, unsaved: the approval chain starts at their manager, the hiring manager.
    # (If the hiring manager submits it themselves, the engine routes it past them.)
    hire_to_be = Employee(
        level=offer.level, team=offer.team, manager=offer.hiring_manager, hire_date=offer.start_date
    )
    request = request_submit(
        kind=RequestKind.OFFER,
        requester=acting_user,
        amount_micros=max(offer.total_annual_value_micros, 1),
        rule_amount_micros=outside,
        reason=_approval_reason(offer, round_),
        details={
            "offer": offer.pk,
            "round": round_.number,
            "outside_bands_usd": str(micros_to_dollars(outside)),
            "bands": [check.message for check in checks],
        },
        subject=offer,
        chain_subject=hire_to_be,
    )
    round_.approval_request = request
    round_.save()
    offer.approval_request = request
    offer.save()
    return request


def offer_approved(request: ApprovalRequest, user: User) -> None:
    """The approvals engine's effect for offers: the final approval moves the offer on (in the
    decision's transaction). A request that is no longer the offer's current one does nothing."""
    offer = Offer.objects.select_for_update().filter(approval_request=request).first()
    if offer is None or offer.state != OfferState.PENDING_APPROVAL:
        return
    _move(offer, "approve", by=user, description=f"approved through request #{request.pk}")
    offer.save()
    round_ = _current_round(offer)
    round_.decided_by, round_.decided_at = user, timezone.now()
    round_.save(update_fields=["decided_by", "decided_at"])


def register() -> None:
    effect_register(RequestKind.OFFER, offer_approved)
    subject_viewers_register(RequestKind.OFFER, offer_request_viewers)


@transaction.atomic
def offer_reopen(*, offer: Offer, acting_user: User) -> Offer:
    """After the approvers refused (or the request was withdrawn or expired): back to draft."""
    offer = _locked(offer)
    request = offer.approval_request
    if request is not None and request.state in (RequestState.IN_REVIEW, RequestState.APPROVED):
        raise AllotError(
            f"Request #{request.pk} is {request.get_state_display().lower()}; an offer goes "
            "back to draft only when its approval was refused, withdrawn or expired.",
            code="conflict",
        )
    _move(offer, "reopen", by=acting_user)
    offer.save()
    return offer


def _letter_hash(offer: Offer, template, context: dict) -> str:
    body = hashlib.sha256(template.body.encode()).hexdigest()
    return hashlib.sha256(
        f"{letters.package_hash(offer, context)}:{template.pk}:{body}".encode()
    ).hexdigest()


def letter_generate(*, offer: Offer, acting_user: User | None) -> OfferLetter:
    """The letter for the offer's current round. An identical package with the same template
    reuses the letter already made; otherwise a new one is stored (letters never change)."""
    with transaction.atomic():
        offer = _locked(offer)
        if offer.state in CLOSED_STATES:
            raise AllotError(f"Offer #{offer.pk} is closed; no new letter is made.")
        template = letters.letter_template()
        context = letters.letter_context(offer)  # once: the date hashed is the date printed
        key = _letter_hash(offer, template, context)
        existing = offer.letters.filter(round_number=offer.round_number, package_hash=key).first()
        if existing:
            return existing
        html = letters.letter_html(offer, template, context)
        return OfferLetter.objects.create(
            offer=offer,
            round_number=offer.round_number,
            template=template,
            html=html,
            pdf=letters.letter_pdf(html),
            package_hash=key,
            created_by=acting_user,
        )


@transaction.atomic
def offer_send(
    *, offer: Offer, acting_user: User, response_deadline: date | None = None
) -> OfferLetter:
    """Send an approved offer: the deadline is set, and the round's letter is made and kept."""
    offer = _locked(offer)
    deadline = response_deadline or offer.response_deadline
    today = company_today()
    if deadline is None or deadline < today:
        deadline = today + timedelta(days=policy().response_days)
    _move(offer, "send", by=acting_user)
    offer.response_deadline = deadline
    offer.save()
    letter = letter_generate(offer=offer, acting_user=acting_user)
    round_ = _current_round(offer)
    if round_.sent_letter_id is None:
        round_.sent_letter = letter
        round_.save(update_fields=["sent_letter"])
    return letter


@transaction.atomic
def offer_counter_record(*, offer: Offer, acting_user: User, candidate_ask: str) -> OfferRound:
    """The candidate answered with a counter-offer: it opens the next round, recording what they
    asked. HR then changes the package and submits the round for approval again."""
    if not candidate_ask.strip():
        raise AllotError(
            'Write what the candidate asked, e.g. "$200k base and $200k tokens instead of '
            'options".',
            field="candidate_ask",
        )
    offer = _locked(offer)
    _move(offer, "counter", by=acting_user, description=f"counter-offer: {candidate_ask.strip()}")
    offer.round_number += 1
    offer.approval_request = None
    offer.save()
    return OfferRound.objects.create(
        offer=offer,
        number=offer.round_number,
        candidate_ask=candidate_ask.strip(),
        created_by=acting_user,
    )


@transaction.atomic
def offer_decline(*, offer: Offer, acting_user: User, reason: str = "") -> Offer:
    offer = _locked(offer)
    _move(offer, "decline", by=acting_user, description=reason.strip() or "declined")
    offer.save()
    return offer


@transaction.atomic
def offer_withdraw(*, offer: Offer, acting_user: User, reason: str = "") -> Offer:
    """Withdraw the offer; an approval still in review is withdrawn with it.

    The approval request is locked before the offer, the order a decision takes them in
    (request_decide, then offer_approved): the other way round, a withdrawal and a final
    approval at the same moment could deadlock."""
    request_id = Offer.objects.filter(pk=offer.pk).values_list("approval_request_id", flat=True)
    request_id = request_id.first()
    request = ApprovalRequest.objects.select_for_update().get(pk=request_id) if request_id else None
    offer = _locked(offer)
    if offer.approval_request_id != request_id:  # resubmitted in between: a new request
        raise AllotError(f"Offer #{offer.pk} changed meanwhile; try again.", code="conflict")
    _move(offer, "withdraw", by=acting_user, description=reason.strip() or "withdrawn")
    offer.save()
    if request is not None and request.state == RequestState.IN_REVIEW:
        request.withdraw(by=acting_user, description=f"offer #{offer.pk} withdrawn")
        request.save()
    return offer


@transaction.atomic
def offer_accept(*, offer: Offer, acting_user: User) -> Employee:
    """The candidate accepted: in one transaction, their user, their employee record (level,
    team, manager) and their token budget for the fiscal year of the start date, prorated from
    it, with an allocation entry the offer points at. A second acceptance is refused."""
    offer = _locked(offer)
    if offer.employee_id is not None:
        raise AllotError(f"Offer #{offer.pk} was already accepted.", code="conflict")
    late = offer.response_deadline is not None and offer.response_deadline < company_today()
    if offer.state == OfferState.SENT and late:
        # As the nightly expiry would have it, in the company's zone, whenever it runs.
        raise AllotError(
            f"Offer #{offer.pk} had to be answered by {offer.response_deadline:%Y-%m-%d}: it has "
            "expired. Accepting it needs a new round (record a counter-offer) with a new "
            "deadline, or a new offer.",
            code="conflict",
        )
    _move(offer, "accept", by=acting_user)
    candidate = offer.candidate
    users = get_user_model().objects
    if users.filter(email__iexact=candidate.email).exists():
        raise AllotError(
            f"Someone already signs in as {candidate.email}; fix the candidate's email first.",
            field="email",
            code="conflict",
        )
    user = users.create_user(
        username=candidate.email,
        email=candidate.email,
        first_name=candidate.first_name,
        last_name=candidate.last_name,
    )  # no password: they set one through the reset link
    engineers = Group.objects.filter(name=ENGINEERS).first()
    if engineers:
        user.groups.add(engineers)
    employee = Employee.objects.create(
        user=user,
        level=offer.level,
        team=offer.team,
        manager=offer.hiring_manager,
        hire_date=offer.start_date,
        # the letter promised this much a year: every later year's allocation starts from it
        annual_budget_micros=offer.effective_token_budget_micros,
    )
    settings_row = company_settings()
    first = first_year_budget(
        offer.effective_token_budget_micros,
        start=offer.start_date,
        fiscal_year_start_month=settings_row.fiscal_year_start_month,
    )
    budget, _ = budget_create(fiscal_year=first.fiscal_year, employee=employee)
    if first.amount_micros <= 0:
        raise AllotError("The offer's token budget is zero; there is nothing to allocate.")
    entry = budget_allocate(
        budget=budget,
        amount_micros=first.amount_micros,
        acting_user=acting_user,
        kind=EntryKind.ALLOCATION,
        memo=(
            f"FY{first.fiscal_year} token budget from offer #{offer.pk} "
            f"({format_usd(offer.effective_token_budget_micros)} a year, "
            f"{first.days}/{first.year_days} days from {offer.start_date})"
        ),
        # The level allocation's key: the year's allocation is this one, never a second.
        idempotency_key=level_allocation_key(employee=employee, fiscal_year=first.fiscal_year),
    )
    if offer.allocation_project_id:  # the budget is (also) for their impact on this project
        offer.allocation_project.members.add(employee)
    offer.employee = employee
    offer.allocation_entry = entry
    offer.save()
    pay_record_from_offer(offer=offer, acting_user=acting_user)
    return employee


def pay_record_from_offer(*, offer: Offer, acting_user: AbstractBaseUser | None) -> PayRecord:
    """The accepted offer's package as the new employee's first pay record, from the start date
    (stock after any trade, as the letter said). Once per offer."""
    record, _ = PayRecord.objects.get_or_create(
        offer=offer,
        defaults={
            "employee": offer.employee,
            "effective_from": offer.start_date,
            "base_salary_micros": offer.base_salary_micros,
            "stock_option_count": offer.stock_option_count,
            "stock_annual_value_micros": offer.trade.stock_value_micros,
            "sign_on_bonus_micros": offer.sign_on_bonus_micros,
            "health_plan_cost_micros": offer.health_plan_cost_micros,
            "match_401k_percent": offer.match_401k_percent,
            "professional_development_micros": offer.professional_development_micros,
            "source": PaySource.OFFER,
            "note": f"From offer #{offer.pk}",
            "created_by": acting_user,
        },
    )
    return record


def pay_record_check(*, employee: Employee, effective_from: date, exclude_pk: int | None) -> None:
    """AllotError naming the field when a pay record may not start then: one record per
    employee and day, and none before the hire date."""
    clash = PayRecord.objects.filter(employee=employee, effective_from=effective_from)
    if clash.exclude(pk=exclude_pk).exists():
        raise AllotError(
            f"{employee} already has a pay record from {effective_from}; change that one instead.",
            field="effective_from",
        )
    if effective_from < employee.hire_date:
        raise AllotError(
            f"{employee} was hired on {employee.hire_date}; pay starts on or after it.",
            field="effective_from",
        )


def pay_record_save(*, record: PayRecord, acting_user: AbstractBaseUser | None) -> PayRecord:
    """HR records pay (a raise, a new grant): checked, one record per employee and day; the
    history keeps every change."""
    if not has_role(acting_user, HR):
        raise AllotError("Pay records are HR's.", code="forbidden")
    pay_record_check(
        employee=record.employee, effective_from=record.effective_from, exclude_pk=record.pk
    )
    if record.created_by_id is None:
        record.created_by = acting_user
    record.save()
    return record


def offers_expire(*, today: date | None = None) -> int:
    """Sent offers past their response deadline expire (each in its own transaction)."""
    today = today or company_today()
    expired = 0
    due = Offer.objects.filter(state=OfferState.SENT, response_deadline__lt=today)
    for offer_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            offer = Offer.objects.select_for_update().get(pk=offer_id)
            if offer.state != OfferState.SENT or offer.response_deadline >= today:
                continue
            offer.expire(description=f"no answer by {offer.response_deadline}")
            offer.save()
            if offer.created_by_id:
                notify(
                    [offer.created_by],
                    f"Offer #{offer.pk} to {offer.candidate} expired: no answer by "
                    f"{offer.response_deadline:%b %-d, %Y}.",
                    kind=Kind.REQUEST_DECIDED,
                    subject=f"Allot: offer #{offer.pk} to {offer.candidate} expired unanswered",
                    link=reverse("admin:compensation_offer_change", args=[offer.pk]),
                )
            expired += 1
    return expired


@transaction.atomic
def exchange_rate_save(*, rate: ExchangeRate, acting_user: User | None) -> ExchangeRate:
    """Record finance's rate of a currency for a day (only finance may: the rate prices every
    letter of that day)."""
    if not has_role(acting_user, FINANCE):
        raise AllotError("Only finance keeps the exchange rates.", field="units_per_usd")
    if rate.pk is None:
        rate.created_by = acting_user
    rate.full_clean()
    rate.save()
    return rate
