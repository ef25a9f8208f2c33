"""The approval engine: submit, decide, withdraw, escalate, expire. One engine for every kind of
request (offers register their own effect). Money moves only on the final approval, in the same
transaction as the decision; deciding twice has the effect of once."""

from collections.abc import Callable
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from approvals.auto import auto_approval_reason, permanent_effective_from
from approvals.delegation import (
    standing_in_for,
)
from approvals.messages import (
    request_done,
    step_done,
    tell_requester,
    tell_waiting,
)
from approvals.models import (
    HR_KINDS,
    KINDS_FOR_A_PERSON,
    ApprovalRequest,
    ApprovalRule,
    ApprovalStep,
    RequestKind,
    RequestState,
    StepRole,
    StepState,
)
from approvals.transfers import budget_owner, transfer_check, transfer_sides
from budgets.models import Budget
from common.errors import AllotError
from common.money import Micros, format_usd
from notifications.services import notify
from people.models import Employee, Project, Team
from people.roles import FINANCE, HR
from people.selectors import company_today, current_fiscal_year, fiscal_year_of

User = AbstractBaseUser
GROUP_ROLES = {StepRole.FINANCE: FINANCE, StepRole.HR: HR}
Effect = Callable[[ApprovalRequest, User | None], None]  # None: approved by a rule
_EFFECTS: dict[str, Effect] = {}


def effect_register(kind: str, effect: Effect) -> None:
    """What happens when a request of this kind is finally approved (called in its transaction)."""
    _EFFECTS[kind] = effect


def rule_for(*, kind: str, amount_micros: Micros) -> ApprovalRule:
    """The rule with the smallest ceiling at or above the amount (no ceiling = any amount)."""
    rules = ApprovalRule.objects.filter(kind=kind)
    rule = (
        rules.filter(max_amount_micros__gte=amount_micros).order_by("max_amount_micros").first()
        or rules.filter(max_amount_micros__isnull=True).first()
    )
    if rule is None:
        raise AllotError(
            f"No approval rule covers a {RequestKind(kind).label.lower()} of "
            f"{format_usd(amount_micros)}; ask HR or finance to add one.",
            field="amount",
        )
    return rule


def _active_manager(employee: Employee | None) -> Employee | None:
    """The first active manager above someone (a leaver's reports go to the next one up)."""
    manager = employee.manager if employee else None
    hops = 0
    while manager is not None and not manager.is_active and hops < 50:
        manager, hops = manager.manager, hops + 1
    return manager


def _resolve(role: str, subject: Employee | None, excluded: set[int]) -> AbstractBaseUser | None:
    """The person a step goes to. Someone who may not decide (the requester, the person the
    request is for) is replaced by the next person up; None means a group step."""
    if role in GROUP_ROLES:
        return None
    if role == StepRole.DEPARTMENT_HEAD:
        head = subject.team.department.head if subject and subject.team_id else None
        person = head if head and head.is_active else _active_manager(subject)
    else:
        person = _active_manager(subject)
        if role == StepRole.SKIP_LEVEL:
            person = _active_manager(person)
    hops = 0
    while person is not None and person.user_id in excluded and hops < 50:
        person, hops = _active_manager(person), hops + 1
    return person.user if person else None


def _subject(request: ApprovalRequest) -> Employee | None:
    if request.employee_id:
        return request.employee
    return Employee.objects.filter(user=request.requester).first()


@transaction.atomic
def request_submit(
    *,
    kind: str,
    requester: AbstractBaseUser,
    amount_micros: Micros,
    reason: str,
    employee: Employee | None = None,
    team: Team | None = None,
    project: Project | None = None,
    until: date | None = None,
    details: dict | None = None,
    subject: object | None = None,
    chain_subject: Employee | None = None,
    rule_amount_micros: Micros | None = None,
) -> ApprovalRequest:
    """Open a request and route it. `chain_subject` is whose management chain the steps follow
    when the request is not for an existing employee (an offer: the hire-to-be, who reports to
    the hiring manager); `rule_amount_micros` is the amount the rule is picked by when it is not
    the amount asked (an offer: how far the package goes outside its level's bands)."""
    if amount_micros <= 0:
        raise AllotError("Ask for an amount above zero.", field="amount")
    if not reason.strip():
        raise AllotError("Say why: approvers decide on the reason.", field="reason")
    if until is not None and until < company_today():
        raise AllotError("The end date is in the past.", field="until")
    if kind in KINDS_FOR_A_PERSON and employee is None:
        raise AllotError("Say whose budget the increase is for.", field="employee")
    fiscal_year = current_fiscal_year()
    if kind == RequestKind.PERMANENT_INCREASE:
        effective = permanent_effective_from(details, fiscal_year=fiscal_year)
        details = {**(details or {}), "effective_from": effective.isoformat()}
    sides = ()
    if kind == RequestKind.TRANSFER:
        sides = transfer_sides(details, fiscal_year=fiscal_year)
        details = {
            **(details or {}),
            **transfer_check(source=sides[0], destination=sides[1], amount_micros=amount_micros),
        }
    if kind == RequestKind.PROJECT_ALLOCATION and project is None:
        raise AllotError("Choose the project.", field="project")
    if kind == RequestKind.TEAM_TOPUP and team is None:
        raise AllotError("Choose the team.", field="team")
    request = ApprovalRequest(
        kind=kind,
        requester=requester,
        employee=employee,
        team=team,
        project=project,
        amount_micros=amount_micros,
        fiscal_year=fiscal_year,
        reason=reason.strip(),
        until=until,
        details=details or {},
    )
    if subject is not None:
        request.subject = subject
    request.save()
    rule = rule_for(
        kind=kind,
        amount_micros=amount_micros if rule_amount_micros is None else rule_amount_micros,
    )
    subject_employee = chain_subject or _subject(request)
    by_rule = auto_approval_reason(
        rule=rule,
        kind=kind,
        employee=request.employee,
        amount_micros=amount_micros,
        fiscal_year=fiscal_year,
    )
    if by_rule:
        return _approve_by_rule(request, rule, by_rule)
    excluded = {requester.pk} | ({employee.user_id} if employee else set())
    now = timezone.now()
    if kind == RequestKind.TRANSFER:
        planned = _transfer_chain(rule, sides, excluded)
    else:
        planned = _planned(rule.steps, subject_employee, excluded)
    steps, seen = [], set()
    for role, approver in planned:
        key = approver.pk if approver else role
        if key in seen:
            continue  # one person (or group) decides once: a chain of n steps asks n people
        seen.add(key)
        steps.append(ApprovalStep(request=request, index=len(steps), role=role, approver=approver))
    steps[0].state = StepState.PENDING
    steps[0].assigned_at = now
    ApprovalStep.objects.bulk_create(steps)
    request.submit(by=requester, description=f"{len(steps)} step(s): {rule}")
    request.save()
    tell_waiting([steps[0].approver], request, steps[0], f"{request} waits for you.")
    _tell_group(steps[0], request, excluded)
    return request


def _planned(roles: list[str], subject: Employee | None, excluded: set[int]) -> list[tuple]:
    """The (role, approver) of each of a rule's steps for a subject (None: the group decides)."""
    planned = []
    for role in roles:
        approver = _resolve(role, subject, excluded)
        if approver is None and role not in GROUP_ROLES:
            role = StepRole.FINANCE  # nobody above: finance decides
        planned.append((role, approver))
    return planned


def _transfer_chain(rule: ApprovalRule, sides: tuple[Budget, ...], excluded: set[int]) -> list:
    """Each side's owner (unless they asked), then that side's approvers under the rule: the
    source's first, then the destination's."""
    planned = []
    for budget in sides:
        owner = budget_owner(budget)
        if owner is not None and owner.is_active and owner.user_id not in excluded:
            planned.append((StepRole.OWNER, owner.user))
        planned += _planned(rule.steps, owner, excluded | ({owner.user_id} if owner else set()))
    return planned


def _approve_by_rule(request: ApprovalRequest, rule: ApprovalRule, why: str) -> ApprovalRequest:
    """The auto-approval tier: one step decided by the rule (no person), its reason recorded
    on the step and in the state log, and the effect run now, in the submission's transaction."""
    now = timezone.now()
    ApprovalStep.objects.create(
        request=request,
        index=0,
        role=StepRole.RULE,
        state=StepState.APPROVED,
        assigned_at=now,
        decided_at=now,
        comment=why,
    )
    request.submit(by=request.requester, description=f"1 step: {rule}")
    request.approve(by=None, description=why)
    request.save()
    effect = _EFFECTS.get(request.kind)
    if effect is not None:
        effect(request, None)
    _tell([request.requester], request, f"{request} was approved by the rule. {why}")
    return request


def _earlier_approvals(step: ApprovalStep):
    return ApprovalStep.objects.filter(
        request_id=step.request_id, index__lt=step.index, state=StepState.APPROVED
    )


def _decided_earlier(step: ApprovalStep, user: AbstractBaseUser) -> bool:
    """Whether this person already approved an earlier step of the request, themselves or as
    someone's delegate, or someone did on their behalf. A chain of several steps asks for that
    many people: one person twice (a delegation from the next approver, or a skip-level who is
    also in Finance) would be one person deciding a request that needs two."""
    return (
        _earlier_approvals(step)
        .filter(Q(decided_by_id=user.pk) | Q(on_behalf_of_id=user.pk))
        .exists()
    )


def may_decide(step: ApprovalStep, user: AbstractBaseUser, day: date | None = None):
    """(allowed, on behalf of whom). Nobody decides their own request or one for themselves,
    nor more than one step of a request. A stand-in decides only while their delegation is in
    force under the company's rules of today (and an offer step only if they may see offers)."""
    request = step.request
    if user.pk == request.requester_id or (
        request.employee_id and request.employee.user_id == user.pk
    ):
        return False, None
    if _decided_earlier(step, user):
        return False, None
    if step.approver_id is None:
        group = GROUP_ROLES.get(step.role, FINANCE)
        return user.groups.filter(name=group).exists(), None
    if step.approver_id == user.pk:
        return True, None
    standing_in = standing_in_for(user=user, day=day or company_today())
    delegators = (
        standing_in.offer_delegators if request.kind in HR_KINDS else standing_in.delegators
    )
    if step.approver_id in delegators:
        return True, step.approver
    return False, None


# Requests that add money to a fiscal year's budget: approving one after its year ended would
# post into a year nobody can spend in (and, once rolled over, that nothing carries or forfeits).
YEAR_BOUND_KINDS = frozenset(
    {
        RequestKind.INCREASE,
        RequestKind.PERMANENT_INCREASE,
        RequestKind.PROJECT_ALLOCATION,
        RequestKind.TEAM_TOPUP,
        RequestKind.TRANSFER,
        RequestKind.LEVEL_CHANGE,
    }
)


def request_ended(request: ApprovalRequest, *, today: date | None = None) -> str:
    """Why this request may no longer be approved (empty when it may): its end date has passed,
    or the fiscal year it adds money to has ended. Checked when deciding, in the company's zone,
    so it holds before the nightly expiry gets to it."""
    today = today or company_today()
    if request.until is not None and request.until < today:
        return (
            f"This request ended on {request.until:%Y-%m-%d}: it can no longer be approved. "
            "Ask again with a new end date."
        )
    if request.kind in YEAR_BOUND_KINDS and request.fiscal_year < fiscal_year_of(today):
        return (
            f"FY{request.fiscal_year} has ended: this request can no longer be approved. "
            f"Ask again for FY{fiscal_year_of(today)}."
        )
    return ""


@transaction.atomic
def request_decide(
    *,
    request: ApprovalRequest,
    user: AbstractBaseUser,
    approve: bool,
    comment: str = "",
    step_index: int | None = None,
) -> ApprovalRequest:
    """Approve or reject the current step. The request row is locked first, so two approvers,
    two tabs or a double click decide once: a repeat of the same decision is a no-op.

    `step_index` is the step the decider was shown (the web form sends it): if the request has
    moved past it, this is their second click when they decided that step the same way, and
    is refused otherwise, rather than read as a decision on the step after."""
    request = ApprovalRequest.objects.select_for_update().get(pk=request.pk)
    if not approve and not comment.strip():
        raise AllotError("Say why you reject it: the requester will read this.", field="comment")
    last = request.steps.exclude(decided_by=None).order_by("-index").first()
    if step_index is not None and (
        request.state != RequestState.IN_REVIEW or step_index != request.current_step
    ):
        shown = request.steps.filter(index=step_index).first()
        if (
            shown is not None
            and shown.decided_by_id == user.pk
            and (shown.state == StepState.APPROVED) == approve
        ):
            return request  # the second click of a double click
        raise AllotError(
            "This request has moved on since you opened it; look at it again.", code="conflict"
        )
    if request.state != RequestState.IN_REVIEW:
        same = (
            last is not None
            and last.decided_by_id == user.pk
            and ((last.state == StepState.APPROVED) == approve)
        )
        if same:
            return request  # the second click of a double click
        raise AllotError(f"This request is already {request.get_state_display().lower()}.")
    step = request.steps.select_related("request__employee").get(index=request.current_step)
    allowed, on_behalf_of = may_decide(step, user)
    if not allowed:
        if _decided_earlier(step, user):
            if step_index is None and last.decided_by_id == user.pk and approve:
                return request  # a repeat of their approval, from a caller without a step
            raise AllotError(
                "You approved an earlier step of this request: someone else decides this one.",
                code="conflict",
            )
        raise AllotError("You cannot decide this request.", code="forbidden")
    ended = request_ended(request)
    if ended and approve:
        raise AllotError(ended)
    now = timezone.now()
    step.state = StepState.APPROVED if approve else StepState.REJECTED
    step.decided_by, step.on_behalf_of, step.decided_at = user, on_behalf_of, now
    step.comment = comment.strip()
    step.save()
    label = step.decision_label
    if not approve:
        request.reject(by=user, description=label)
        request.save()
        request_done(request, label)
        tell_requester(request, "rejected", f"{request} was {label}: {step.comment}")
        return request
    following = request.steps.filter(index__gt=step.index).order_by("index").first()
    if following is None:
        request.approve(by=user, description=label)
        request.save()
        effect = _EFFECTS.get(request.kind)
        if effect is not None:
            effect(request, user)
        request_done(request, label)
        tell_requester(request, "approved", f"{request} was approved ({label}).")
        return request
    following.state, following.assigned_at = StepState.PENDING, now
    following.save(update_fields=["state", "assigned_at"])
    request.current_step = following.index
    request.save(update_fields=["current_step"])
    excluded = {request.requester_id} | (
        {request.employee.user_id} if request.employee_id else set()
    )
    step_done(request, step, label)
    tell_waiting([following.approver], request, following, f"{request} waits for you.")
    _tell_group(following, request, excluded)
    return request


@transaction.atomic
def request_withdraw(*, request: ApprovalRequest, user: AbstractBaseUser) -> ApprovalRequest:
    request = ApprovalRequest.objects.select_for_update().get(pk=request.pk)
    if user.pk != request.requester_id:
        raise AllotError("Only the requester can withdraw a request.", code="forbidden")
    if request.state == RequestState.WITHDRAWN:
        return request
    if request.state != RequestState.IN_REVIEW:
        raise AllotError(f"This request is already {request.get_state_display().lower()}.")
    request.withdraw(by=user, description="withdrawn by the requester")
    request.save()
    request_done(request, "withdrawn by the requester")
    return request


def approvals_escalate(*, now: datetime | None = None) -> int:
    """A step waiting longer than the configured days goes one level up (both are told); a
    step whose approver has left is re-resolved. Returns how many steps moved."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ALLOT_APPROVAL_ESCALATE_AFTER_DAYS)
    moved = 0
    stale = ApprovalStep.objects.filter(
        state=StepState.PENDING, request__state=RequestState.IN_REVIEW, approver__isnull=False
    ).filter(Q(assigned_at__lte=cutoff) | Q(approver__employee__is_active=False))
    for step_id in stale.values_list("pk", flat=True):
        with transaction.atomic():
            step = (
                ApprovalStep.objects.select_for_update(of=("self",))
                .select_related("approver__employee", "request__employee")
                .get(pk=step_id)
            )
            if step.state != StepState.PENDING:
                continue
            request = step.request
            excluded = {request.requester_id} | (
                {request.employee.user_id} if request.employee_id else set()
            )
            current = getattr(step.approver, "employee", None)
            above = _active_manager(current) if current else None
            while above is not None and above.user_id in excluded:
                above = _active_manager(above)
            previous = step.approver
            step.escalated_from = previous
            step.approver = above.user if above else None
            if above is None:
                step.role = StepRole.FINANCE
            step.assigned_at = now
            step.save()
            moved += 1
            moved_up = f"{request} waited too long and moved up a level."
            step_done(request, step, f"moved up to {step.approver or 'finance'}")
            _tell([previous], request, moved_up)
            tell_waiting([step.approver], request, step, moved_up)
            if step.approver is None:
                _tell_group(step, request, excluded)
    return moved + _undecidable_finance_steps_escalate(now)


def _undecidable_finance_steps_escalate(now: datetime) -> int:
    """A Finance step that no remaining Finance member may decide (the only ones are the
    requester, the person it is for, or decided an earlier step) would wait forever: it goes to
    the configured CFO user (ALLOT_CFO_USERNAME), else to the first active superuser who may
    decide it. Returns how many steps moved."""
    moved = 0
    waiting = ApprovalStep.objects.filter(
        state=StepState.PENDING,
        request__state=RequestState.IN_REVIEW,
        approver__isnull=True,
        role=StepRole.FINANCE,
    )
    for step_id in waiting.values_list("pk", flat=True):
        with transaction.atomic():
            step = (
                ApprovalStep.objects.select_for_update(of=("self",))
                .select_related("request__employee")
                .get(pk=step_id)
            )
            if step.state != StepState.PENDING or step.approver_id is not None:
                continue
            finance = get_user_model().objects.filter(groups__name=FINANCE, is_active=True)
            if any(may_decide(step, member)[0] for member in finance):
                continue
            target = _finance_stand_in(step)
            if target is None:
                continue
            request = step.request
            step.approver = target
            step.assigned_at = now
            step.save()
            moved += 1
            step_done(request, step, f"no finance member may decide it; moved to {target}")
            tell_waiting(
                [target],
                request,
                step,
                f"{request} needs a finance decision that nobody in Finance may make.",
            )
    return moved


def _finance_stand_in(step: ApprovalStep) -> AbstractBaseUser | None:
    """The configured CFO user, else the first active superuser, who may decide this step:
    not the requester, not the person it is for, not someone who decided an earlier step."""
    request = step.request
    excluded = {request.requester_id} | (
        {request.employee.user_id} if request.employee_id else set()
    )
    candidates = []
    if settings.ALLOT_CFO_USERNAME:
        candidates += list(
            get_user_model().objects.filter(username=settings.ALLOT_CFO_USERNAME, is_active=True)
        )
    superusers = get_user_model().objects.filter(is_superuser=True, is_active=True)
    candidates += list(superusers.order_by("pk"))
    for user in candidates:
        if user.pk not in excluded and not _decided_earlier(step, user):
            return user
    return None


def approvals_expire(*, today: date | None = None) -> int:
    """Requests still in review after their end date, or after the fiscal year they add money
    to, expire."""
    today = today or company_today()
    expired = 0
    ended = Q(until__lt=today) | Q(kind__in=YEAR_BOUND_KINDS, fiscal_year__lt=fiscal_year_of(today))
    for request_id in ApprovalRequest.objects.filter(
        ended, state=RequestState.IN_REVIEW
    ).values_list("pk", flat=True):
        with transaction.atomic():
            request = ApprovalRequest.objects.select_for_update().get(pk=request_id)
            why = request_ended(request, today=today)
            if request.state != RequestState.IN_REVIEW or not why:
                continue
            past = (
                f"past its end date {request.until}"
                if request.until is not None and request.until < today
                else f"FY{request.fiscal_year} ended"
            )
            request.expire(description=past)
            request.save()
            request_done(request, f"expired ({past})")
            tell_requester(request, "expired", f"{request} expired unanswered ({past}).")
            expired += 1
    return expired


def _tell(users, request: ApprovalRequest, message: str) -> None:
    """An in-app notification and an email after commit, linking to the request."""
    notify(users or [], message, link=request.get_absolute_url())


def _tell_group(step: ApprovalStep, request: ApprovalRequest, excluded: set[int]) -> None:
    if step.approver_id is not None:
        return
    group = Group.objects.filter(name=GROUP_ROLES.get(step.role, FINANCE)).first()
    if group:
        members = group.user_set.exclude(pk__in=excluded).exclude(
            Exists(
                _earlier_approvals(step).filter(
                    Q(decided_by=OuterRef("pk")) | Q(on_behalf_of=OuterRef("pk"))
                )
            )
        )[:50]
        tell_waiting(list(members), request, step, f"{request} waits for {group.name}.")
