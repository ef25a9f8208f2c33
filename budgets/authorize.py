"""May this employee spend X now? A yes/no against hard limits, warnings for soft ones, and
optionally a reservation that holds the estimate until a usage event settles it.

Without a reservation nothing is written, so the answer is one read of the candidate budgets.
With one, the check and the hold are one conditional statement (`ledger.reserved_hold`: the
UPDATE applies only while the estimate still fits), so N concurrent calls against one hard budget
admit exactly as many as fit; a call whose budget changed under it, or that names a request id,
is decided under the budgets' locks (SELECT ... FOR UPDATE, in id order).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, Q
from django.utils import timezone

from budgets.authorize_read import Reading
from budgets.authorize_reason import allowed_reason
from budgets.calculations import cost_at
from budgets.ledger import reserved_add, reserved_hold
from budgets.models import Budget, Enforcement, Reservation, ReservationState
from budgets.selectors import price_in_force
from budgets.usage.drawdown import drawdown_order, drawdown_payer, has_room
from common.db import waits_bounded
from common.errors import AllotError
from common.money import MAX_MICROS, Micros, format_usd, percent
from people.models import CompanySettings, Employee, Project
from people.selectors import company_settings, fiscal_year_of


@dataclass
class AuthorizeResult:
    allowed: bool
    budget: Budget | None
    remaining_micros: Micros
    reason: str
    warnings: list[str] = field(default_factory=list)
    reservation: Reservation | None = None


def estimate_cost(
    *,
    model_name: str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
) -> Micros:
    """What a call would cost at today's price for the model."""
    price = price_in_force(model_name=model_name, at=timezone.now())
    if price is None:
        raise AllotError(
            f"No price is known for model {model_name!r}; send estimated_cost_usd instead.",
            field="model",
            code="unknown_model",
        )
    return cost_at(
        price,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached_input_tokens,
        cache_write_tokens=cache_write_tokens,
        cache_write_1h_tokens=cache_write_1h_tokens,
    )


def _candidates(
    employee: Employee, project: Project | None, fiscal_year: int, *, lock: bool
) -> list[Budget]:
    """The budgets that could pay, in drawdown order, read in one SELECT (the project's
    membership is a subquery of it). With `lock`, the budget rows only are locked (FOR UPDATE
    OF the budget), in id order. Each budget's owner is the instance already at hand (the
    employee, their team, the project), so naming it in the answer reads nothing more: nothing
    is loaded lazily once the transaction is over."""
    owners = Q(employee=employee)
    if project is not None:
        members = Project.members.through.objects.filter(project=project, employee=employee)
        owners |= Q(project=project) & Q(Exists(members))
    team = employee.team
    if team is not None and team.has_pool and team.pool_overflow:
        owners |= Q(team=team)
    budgets = Budget.objects.filter(owners, fiscal_year=fiscal_year).order_by("pk")
    if lock:
        budgets = budgets.select_for_update(of=("self",))
    project_budget = personal = pool = None
    for budget in budgets:
        if budget.project_id:
            budget.project = project
            project_budget = budget
        elif budget.employee_id:
            budget.employee = employee
            personal = budget
        else:
            budget.team = team
            pool = budget
    return drawdown_order(project_budget=project_budget, personal=personal, pool=pool)


def _warnings(budget: Budget, amount: Micros, thresholds: list[int]) -> list[str]:
    committed = budget.spent_micros + budget.reserved_micros + amount
    if budget.allocated_micros <= 0:
        return [f"{budget.owner_label} has no money allocated; this spend is over budget."]
    used = int(percent(committed, budget.allocated_micros, places=0, rounding=ROUND_FLOOR))
    if committed > budget.allocated_micros:
        if budget.enforcement == Enforcement.HARD_OVERDRAFT:
            return [f"This spend uses the overdraft of {budget.owner_label} ({used}% used)."]
        return [f"{budget.owner_label} is over budget: {used}% used after this spend."]
    reached = [t for t in thresholds if used >= t]
    if reached:
        return [f"{budget.owner_label} will be at {used}% of its budget (alert at {reached[-1]}%)."]
    return []


def _replayed(
    replay: Reservation, employee: Employee, estimate: Micros, candidates: list[Budget]
) -> AuthorizeResult:
    """A retry of a call that already reserved: the same answer, while it is the same call and
    its hold is still there. Anything else that reuses the request id is refused: "allowed"
    would hold nothing, and would show the budget of whoever made the first call."""
    candidate_ids = {budget.pk for budget in candidates}
    if (
        replay.employee_id != employee.pk
        or replay.amount_micros != estimate
        or replay.budget_id not in candidate_ids  # another project's, or another year's
    ):
        raise AllotError(
            f"Request id {replay.request_id!r} was already used to reserve "
            f"{format_usd(replay.amount_micros)} for another call (another employee, estimate "
            "or project); send a new request id for a new call.",
            field="request_id",
            code="conflict",
        )
    if replay.state != ReservationState.HELD:
        raise AllotError(
            f"Request id {replay.request_id!r} was already used: its reservation {replay.pk} is "
            f"{replay.get_state_display().lower()}; send a new request id for a new call.",
            field="request_id",
            code="conflict",
        )
    budget = next(b for b in candidates if b.pk == replay.budget_id)
    return AuthorizeResult(
        True,
        budget,
        budget.allocated_micros - budget.spent_micros - budget.reserved_micros,
        "Already reserved for this request id.",
        [],
        replay,
    )


def authorize(
    *,
    employee: Employee,
    estimated_cost_micros: Micros,
    project: Project | None = None,
    reserve: bool = False,
    source: str = "",
    request_id: str = "",
    hold_seconds: int | None = None,
    now: datetime | None = None,
    reading: Reading | None = None,
    settings_row: CompanySettings | None = None,
) -> AuthorizeResult:
    """`reading`: the employee's candidate budgets already read with them
    (`authorize_read.employee_and_candidates`, the API's one statement), used when it is of this
    call's fiscal year. Without `reserve` nothing is written: one read of the candidate budgets,
    no transaction and no lock. With it, the hold is one conditional statement
    (`ledger.reserved_hold`); only when that finds the budget changed since the read (a
    concurrent hold took the room, or its rules changed), or the request id already used (a
    retry), is the call decided again under the budgets' locks. `settings_row`: the company's
    settings when the caller has them already (one cache read less)."""
    if not 0 <= estimated_cost_micros <= MAX_MICROS:
        raise AllotError("The estimate must be between zero and a billion dollars.", field="cost")
    if reserve and estimated_cost_micros == 0:
        raise AllotError("Nothing to reserve: the estimate is zero.", field="estimated_cost_usd")
    if not employee.is_active or (reserve and reading is None and _left_since_read(employee)):
        return AuthorizeResult(False, None, 0, f"{employee} is not an active employee.")
    now = now or timezone.now()
    settings_row = settings_row or company_settings()
    fiscal_year = fiscal_year_of(timezone.localtime(now).date(), settings_row=settings_row)
    call = _Call(employee, estimated_cost_micros, project, fiscal_year, settings_row)
    if reading is not None and reading.employee == employee and reading.fiscal_year == fiscal_year:
        read = reading.budgets
    else:
        read = _candidates(employee, project, fiscal_year, lock=False)
    if not reserve:
        return _decide(call, read)
    hold = _Hold(source, request_id, now, hold_seconds or settings.ALLOT_RESERVATION_TTL_SECONDS)
    try:
        result = _decide(call, read, hold)
    except IntegrityError:  # a twin with the same request id was being held at that moment
        result = None
    if result is not None and (result.reservation is not None or not request_id):
        return result  # held, or refused (a read is enough to refuse) when it cannot be a retry
    # A budget busy with another write waits at most the authorize bounds, then the call is a
    # 503 "busy, retry" (common.db): a gateway on the hot path never waits for long.
    with (
        transaction.atomic(),
        waits_bounded(
            lock_ms=settings.ALLOT_AUTHORIZE_LOCK_TIMEOUT_MS,
            statement_ms=settings.ALLOT_AUTHORIZE_STATEMENT_TIMEOUT_MS,
        ),
    ):
        candidates = _candidates(employee, project, fiscal_year, lock=True)
        if request_id:
            # Checked under the budget locks, so two retries racing each other hold once.
            replay = Reservation.objects.filter(source=source, request_id=request_id).first()
            if replay is not None and candidates:
                return _replayed(replay, employee, estimated_cost_micros, candidates)
        return _decide(call, candidates, hold, locked=True)


def _left_since_read(employee: Employee) -> bool:
    """Whether the employee has left since the caller's instance was read. A hold is money
    held for them, so it is decided on the database's row, not on an instance that may predate
    their leaving (their close released their holds; a hold made after it would outlive them).
    The API's callers pass a `reading` of this call, so its path asks nothing more."""
    return not Employee.objects.filter(pk=employee.pk, is_active=True).exists()


@dataclass
class _Call:
    employee: Employee
    amount_micros: Micros
    project: Project | None
    fiscal_year: int
    settings_row: CompanySettings


@dataclass
class _Hold:
    source: str
    request_id: str
    now: datetime
    seconds: int


def _decide(
    call: _Call, candidates: list[Budget], hold: _Hold | None = None, *, locked: bool = False
) -> AuthorizeResult | None:
    """The answer for these candidates; with `hold`, the estimate held on the payer. None when
    the unlocked hold found the payer changed since it was read (nothing written)."""
    amount = call.amount_micros
    if not candidates:
        return AuthorizeResult(
            False, None, 0, f"{call.employee} has no budget for FY{call.fiscal_year}."
        )
    payer = drawdown_payer(candidates, amount)
    if payer is None:
        first = candidates[0]
        committed = first.spent_micros + first.reserved_micros
        return AuthorizeResult(
            False,
            first,
            first.allocated_micros - committed,
            f"Hard limit reached on {first.owner_label}: {format_usd(committed)} committed of "
            f"{format_usd(first.limit_micros)}; {format_usd(amount)} more does not fit.",
        )
    warnings = _warnings(payer, amount, call.settings_row.alert_thresholds)
    reservation = None
    if hold is not None:
        reservation = Reservation(
            budget=payer,
            employee=call.employee,
            amount_micros=amount,
            source=hold.source,
            request_id=hold.request_id,
            created_at=hold.now,
            expires_at=hold.now + timedelta(seconds=hold.seconds),
        )
        if locked:
            reserved_add(budget=payer, amount_micros=amount)
            reservation.save(force_insert=True)
        elif not reserved_hold(
            budget=payer, reservation=reservation, limit_micros=_room_limit(payer, amount)
        ):
            return None
    remaining = payer.allocated_micros - payer.spent_micros - payer.reserved_micros
    if hold is None:
        remaining -= amount
    reason = allowed_reason(enforcement=payer.enforcement, remaining_micros=remaining)
    return AuthorizeResult(True, payer, remaining, reason, warnings, reservation)


def _room_limit(payer: Budget, amount: Micros) -> Micros | None:
    """What the unlocked hold must stay within to keep the decision just made: the payer's room
    when it was chosen for having room (has_room: the limit, or the allocation when soft);
    nothing when it is a soft budget chosen although full (soft budgets allow and warn)."""
    limit = payer.limit_micros
    if has_room(payer, amount):
        return payer.allocated_micros if limit is None else limit
    return None
