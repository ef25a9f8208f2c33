"""The monthly journal export: a closed month's ledger as balanced journal lines by cost centre,
in a CSV accounting systems import.

Each kind of ledger entry is booked to the accounts finance set in the admin (`JournalAccount`,
else the defaults below), per cost centre (the team's code, else its department's) and per late
mark, one debit and one credit line of the same amount. Amounts are cents: each kind's lines add
up exactly to the month's ledger total of that kind rounded to the cent
(`calculations.cents_spread`). The carryover liability is accrued by the carryover entries and
released by expiry, month by month by the usage that draws carried-over money (which the
ledger has no entry of its own for: spending draws carryover first), and, for what is left
undrawn, when the budget is closed: a leaver's forfeiture or the year's close.

A month's entries are those the kernel posted in it (`LedgerEntry.period`, or for entries from
before periods were kept, the month of `created_at`); a closed month takes no new ones, so its
file never changes.
"""

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from budgets.ledger import next_month
from budgets.models import Budget, EntryKind, LedgerEntry, MonthClose
from common.errors import AllotError
from reporting.calculations import cents_spread
from reporting.models import JournalAccount

EXPENSE = ("6410", "AI token expense")
PAYABLE = ("2110", "AI provider costs accrued")
CARRYOVER_LIABILITY = ("2310", "Carried-over token budgets (liability)")
BUDGET_MEMO = ("9010", "Token budgets granted (memorandum)")
BUDGET_MEMO_CONTRA = ("9020", "Token budget authority (memorandum)")

# Usage is an expense owed to the provider; carrying money over accrues a liability (an expiry,
# negative, releases it); the other moves change budgets, not money, and go to memorandum
# accounts so the file still carries every entry of the month.
DEFAULT_ACCOUNTS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    EntryKind.USAGE: (EXPENSE, PAYABLE),
    EntryKind.USAGE_CORRECTION: (EXPENSE, PAYABLE),
    EntryKind.CARRYOVER_IN: (EXPENSE, CARRYOVER_LIABILITY),
    EntryKind.EXPIRY: (EXPENSE, CARRYOVER_LIABILITY),
}
MEMO_ACCOUNTS = (BUDGET_MEMO, BUDGET_MEMO_CONTRA)
CARRYOVER_USED = "carryover_used"  # the release by usage: not a ledger kind
CARRYOVER_CLOSED = "carryover_closed"  # the release by a budget's close: not a ledger kind
USAGE_KINDS = (EntryKind.USAGE, EntryKind.USAGE_CORRECTION)
CARRIED_KINDS = (EntryKind.CARRYOVER_IN, EntryKind.EXPIRY)
# A leaver's forfeiture and the year's close (what carries on, what is forfeited) end a budget:
# the carried money it has not drawn goes with them.
CLOSING_KINDS = (EntryKind.FORFEITURE, EntryKind.CARRYOVER_OUT)

JOURNAL_COLUMNS = (
    "journal_id",
    "posting_date",
    "line",
    "account",
    "account_name",
    "cost_centre",
    "cost_centre_name",
    "debit",
    "credit",
    "currency",
    "entry_kind",
    "late_for_month",
    "description",
)


@dataclass(frozen=True, slots=True)
class CostCentre:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class JournalAmount:
    """One kind's total for a cost centre (and late mark), before it is split into lines."""

    kind: str
    cost_centre: CostCentre
    late_for: date | None
    micros: int


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The company-zone month as aware datetimes [start, end)."""
    zone = timezone.get_current_timezone()
    start = datetime.combine(month, time.min, tzinfo=zone)
    return start, datetime.combine(next_month(month), time.min, tzinfo=zone)


def entries_posted_in(month: date) -> Q:
    start, end = month_bounds(month)
    return Q(period=month) | Q(period__isnull=True, created_at__gte=start, created_at__lt=end)


def entries_posted_through(month: date) -> Q:
    _, end = month_bounds(month)
    return Q(period__lte=month) | Q(period__isnull=True, created_at__lt=end)


def ledger_totals(month: date) -> dict[str, int]:
    """The month's ledger: each kind's total in micro-dollars."""
    rows = (
        LedgerEntry.objects.filter(entries_posted_in(month))
        .values_list("kind")
        .annotate(total=Sum("amount_micros"))
        .order_by()
    )
    return dict(rows)


def cost_centres(budget_ids: set[int]) -> dict[int, CostCentre]:
    """Where each budget's money is booked: its team's cost centre (a person's team, a pool's
    team, a project lead's team), else the department's; blank when nobody set one."""
    found = {}
    budgets = Budget.objects.filter(pk__in=budget_ids).select_related(
        "employee__team__department", "team__department", "project__lead__team__department"
    )
    for budget in budgets:
        team = (
            budget.team
            or (budget.employee and budget.employee.team)
            or (budget.project and budget.project.lead and budget.project.lead.team)
        )
        if team is None:
            found[budget.pk] = CostCentre("", "")
        elif team.cost_centre:
            found[budget.pk] = CostCentre(team.cost_centre, team.name)
        else:
            department = team.department
            found[budget.pk] = CostCentre(department.cost_centre, department.name)
    return found


@dataclass(frozen=True, slots=True)
class CarryoverReleased:
    """Per budget, the carried-over money whose liability a month released: drawn by usage, or
    given up when the budget was closed (a leaver's forfeiture, the year's close)."""

    by_usage: dict[int, int]
    by_close: dict[int, int]


def _carryover_released(month: date) -> CarryoverReleased:
    """Each side is its figure through this month less the same through the month before.
    Carried is the carryover in less what expired (an expiry's own lines release that part);
    drawn by usage is min(carried, spent); once the budget has a closing entry (a forfeiture or
    a carryover out) whatever carried money is left undrawn is released by the close, so a
    closed budget holds no liability. Usage posted after the close draws from that release
    (the close's part goes down by what the usage's goes up)."""
    holders = set(
        LedgerEntry.objects.filter(entries_posted_through(month), kind=EntryKind.CARRYOVER_IN)
        .values_list("budget_id", flat=True)
        .distinct()
    )
    if not holders:
        return CarryoverReleased({}, {})

    def released_through(through: date) -> dict[int, tuple[int, int]]:
        sums: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        rows = (
            LedgerEntry.objects.filter(
                entries_posted_through(through),
                budget_id__in=holders,
                kind__in=(*CARRIED_KINDS, *USAGE_KINDS, *CLOSING_KINDS),
            )
            .values_list("budget_id", "kind")
            .annotate(total=Sum("amount_micros"), count=Count("pk"))
            .order_by()
        )
        for budget_id, kind, total, count in rows:
            if kind in CLOSING_KINDS:
                sums[budget_id][2] += count
            else:
                sums[budget_id][kind in USAGE_KINDS] += total
        found = {}
        for budget_id, (carried, spent, closings) in sums.items():
            drawn = max(0, min(carried, spent))
            found[budget_id] = (drawn, max(0, carried - drawn) if closings else 0)
        return found

    now = released_through(month)
    before = released_through(month.replace(day=1) - timedelta(days=1))
    by_usage, by_close = {}, {}
    for budget_id in now.keys() | before.keys():
        drawn, closed = now.get(budget_id, (0, 0))
        drawn_before, closed_before = before.get(budget_id, (0, 0))
        if drawn != drawn_before:
            by_usage[budget_id] = drawn - drawn_before
        if closed != closed_before:
            by_close[budget_id] = closed - closed_before
    return CarryoverReleased(by_usage, by_close)


def journal_amounts(month: date) -> list[JournalAmount]:
    """The month's ledger by kind, cost centre and late mark, and the carryover released."""
    rows = list(
        LedgerEntry.objects.filter(entries_posted_in(month))
        .values_list("kind", "budget_id", "late_for")
        .annotate(total=Sum("amount_micros"))
        .order_by()
    )
    released = _carryover_released(month)
    centres = cost_centres(
        {row[1] for row in rows} | released.by_usage.keys() | released.by_close.keys()
    )
    summed: dict[tuple, int] = defaultdict(int)
    for kind, budget_id, late_for, total in rows:
        summed[(kind, centres[budget_id], late_for)] += total
    for kind, amounts in (
        (CARRYOVER_USED, released.by_usage),
        (CARRYOVER_CLOSED, released.by_close),
    ):
        for budget_id, amount in amounts.items():
            summed[(kind, centres[budget_id], None)] += amount
    return [
        JournalAmount(kind, centre, late_for, micros)
        for (kind, centre, late_for), micros in sorted(
            summed.items(),
            key=lambda item: (item[0][0], item[0][1].code, item[0][1].name, str(item[0][2])),
        )
        if micros
    ]


def _accounts() -> dict[str, tuple[tuple[str, str], tuple[str, str]]]:
    accounts = dict(DEFAULT_ACCOUNTS)
    for row in JournalAccount.objects.all():
        accounts[row.kind] = (
            (row.debit_account, row.debit_account_name),
            (row.credit_account, row.credit_account_name),
        )
    # Carryover used or given up at a close releases the liability into expense: the carryover
    # accrual's accounts, reversed (debit the liability, credit the expense).
    accrual_debit, accrual_credit = accounts.get(EntryKind.CARRYOVER_IN, MEMO_ACCOUNTS)
    accounts[CARRYOVER_USED] = (accrual_credit, accrual_debit)
    accounts[CARRYOVER_CLOSED] = (accrual_credit, accrual_debit)
    return accounts


def _kind_label(kind: str) -> str:
    if kind == CARRYOVER_USED:
        return "Carryover liability released by usage"
    if kind == CARRYOVER_CLOSED:
        return "Carryover liability released at the budget's close (leaver, year end)"
    return EntryKind(kind).label if kind in EntryKind.values else kind


def journal_csv(month: date) -> str:
    """The closed month's journal as CSV text (the same bytes every time it is asked for)."""
    month = month.replace(day=1)
    if not MonthClose.objects.filter(month=month).exists():
        raise AllotError(
            f"{month:%Y-%m} is not closed: close it first, so its journal cannot change.",
            field="month",
        )
    amounts = journal_amounts(month)
    accounts = _accounts()
    by_kind: dict[str, list[JournalAmount]] = defaultdict(list)
    for amount in amounts:
        by_kind[amount.kind].append(amount)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(JOURNAL_COLUMNS)
    journal_id = f"ALLOT-{month:%Y-%m}"
    posting_date = (next_month(month) - timedelta(days=1)).isoformat()
    line = 0
    for kind in sorted(by_kind):
        group = by_kind[kind]
        debit_account, credit_account = accounts.get(kind, MEMO_ACCOUNTS)
        for amount, cents in zip(group, cents_spread([a.micros for a in group]), strict=True):
            if cents == 0:
                continue
            late = f"{amount.late_for:%Y-%m}" if amount.late_for else ""
            description = f"{_kind_label(kind)} {month:%Y-%m}" + (
                f" (late: {late})" if late else ""
            )
            # A negative amount books the other way round, so every amount in the file is positive.
            sides = (
                (debit_account, credit_account) if cents > 0 else (credit_account, debit_account)
            )
            for (account, account_name), is_debit in zip(sides, (True, False), strict=True):
                line += 1
                figure = _cents_text(abs(cents))
                writer.writerow(
                    (
                        journal_id,
                        posting_date,
                        line,
                        account,
                        account_name,
                        amount.cost_centre.code,
                        amount.cost_centre.name,
                        figure if is_debit else "",
                        "" if is_debit else figure,
                        "USD",
                        kind,
                        late,
                        description,
                    )
                )
    return out.getvalue()


def _cents_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
