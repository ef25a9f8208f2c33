"""Total rewards statements: the year's package of one employee (pay, stock, benefits and the
token budget with what was used and what carries over) as figures, then as a PDF in the offer
letter's look. The PDF view, the batch (compensation.statements) and the command call these."""

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import F, Sum
from django.template.loader import render_to_string

from budgets.calculations import tokens_at_rate, utilisation_percent
from budgets.display import MoneyDisplay, money_display_for
from budgets.models import Budget, EntryKind, LedgerEntry, UsageEvent
from budgets.paid_rate import paid_rate
from budgets.rollover.plan import SOURCE_FIELDS, RolloverContext, owner_plan
from budgets.rollover.preview import allocated_employees, rollover_context
from common.fiscal import Period
from common.money import Micros, format_usd
from common.pdf import css_string, pdf_from_html
from compensation.calculations import PackageLine, match_401k_micros
from compensation.models import PayRecord
from people.models import Employee
from people.selectors import company_settings, company_today, fiscal_year_period


@dataclass(frozen=True)
class TokenYear:
    """The personal token budget's year, in micro-dollars."""

    allocated_micros: Micros
    spent_micros: Micros
    held_micros: Micros
    tokens_used: int
    carried_micros: Micros
    forfeited_micros: Micros
    year_closed: bool  # carried/forfeited are what the close posted, not a projection
    tokens_left: int
    rate_basis: str

    @property
    def left_micros(self) -> Micros:
        return self.allocated_micros - self.spent_micros - self.held_micros


@dataclass(frozen=True)
class Statement:
    employee_id: int
    name: str
    email: str
    level: str
    team: str
    fiscal_year: int
    period: Period
    as_of: date
    pay: PayRecord | None
    lines: list[PackageLine]
    tokens: TokenYear
    display: MoneyDisplay  # the employee's own view: the statement is the document they get
    notes: list[str] = field(default_factory=list)

    @property
    def total_micros(self) -> Micros:
        """Every line, the token budget included: the total is the sum of what is printed."""
        return sum(line.amount_micros for line in self.lines)

    @property
    def last_day(self) -> date:
        return self.period.end - timedelta(days=1)  # the period is half-open

    @property
    def pay_total_micros(self) -> Micros:
        return sum(line.amount_micros for line in self.lines if line.key != "token_budget")

    @property
    def filename(self) -> str:
        local = self.email.split("@")[0] or f"employee-{self.employee_id}"
        return f"total-rewards-FY{self.fiscal_year}-{local}-{self.employee_id}.pdf"


def pay_in_force(employee: Employee, day: date) -> PayRecord | None:
    """The employee's pay record in force on `day`: the latest that started on or before it."""
    return (
        PayRecord.objects.filter(employee=employee, effective_from__lte=day)
        .order_by("-effective_from")
        .first()
    )


def pay_lines(pay: PayRecord | None, *, period: Period, allocated_micros: Micros) -> list:
    """The statement's lines: pay and benefits from the record (none without one), a sign-on
    bonus only in the fiscal year the record starts in, and the year's token budget."""
    lines = []
    if pay is not None:
        sign_on = (
            pay.sign_on_bonus_micros if period.start <= pay.effective_from <= period.end else 0
        )
        lines = [
            PackageLine("base_salary", "Base salary", pay.base_salary_micros),
            PackageLine("bonus", "Bonus (target)", pay.bonus_micros),
            PackageLine("sign_on", "Sign-on bonus", sign_on, "paid once"),
            PackageLine(
                "stock",
                "Stock options (annualised value)",
                pay.stock_annual_value_micros,
                f"{pay.stock_option_count:,} options" if pay.stock_option_count else "",
            ),
            PackageLine("health", "Health plan (employer's cost)", pay.health_plan_cost_micros),
            PackageLine(
                "match_401k",
                "401(k) match",
                match_401k_micros(pay.base_salary_micros, pay.match_401k_percent),
                f"{pay.match_401k_percent.normalize():f}% of base salary",
            ),
            PackageLine(
                "professional_development",
                "Professional development budget",
                pay.professional_development_micros,
            ),
        ]
        lines = [line for line in lines if line.amount_micros or line.key == "base_salary"]
    lines.append(PackageLine("token_budget", "AI token budget", allocated_micros))
    return lines


def _closed_split(budget_id: int) -> tuple[Micros, Micros] | None:
    """What the year's close carried over and forfeited, if it has run (None: not yet)."""
    rows = dict(
        LedgerEntry.objects.filter(
            budget_id=budget_id, kind__in=[EntryKind.CARRYOVER_OUT, EntryKind.FORFEITURE]
        )
        .values_list("kind")
        .annotate(total=Sum("amount_micros"))
    )
    if not rows:
        return None
    return -rows.get(EntryKind.CARRYOVER_OUT, 0), -rows.get(EntryKind.FORFEITURE, 0)


def token_year(
    employee: Employee, fiscal_year: int, *, context: RolloverContext | None = None
) -> TokenYear:
    """The personal budget's year: allocated, spent, held, the tokens used, and what carries
    over: what the close posted once it has run, else what the company's rule would carry if
    nothing more were spent (the rollover's own plan for this budget)."""
    budget = Budget.objects.filter(employee=employee, fiscal_year=fiscal_year).first()
    rate = paid_rate(employee=employee)
    if budget is None:
        return TokenYear(0, 0, 0, 0, 0, 0, False, 0, rate.basis)
    tokens = UsageEvent.objects.filter(budget=budget).aggregate(
        n=Sum(F("input_tokens") + F("output_tokens") + F("cached_input_tokens"))
    )["n"]
    closed = _closed_split(budget.pk)
    if closed is None:
        context = context or rollover_context(fiscal_year=fiscal_year)
        row = Budget.objects.filter(pk=budget.pk).values(*SOURCE_FIELDS).get()
        plan = owner_plan(row, context, allocated_employees([employee.pk], fiscal_year + 1))
        carried, forfeited = plan.carried_micros, plan.forfeited_micros
    else:
        carried, forfeited = closed
    # the close took what carried over and what was forfeited out of the year's allocation:
    # the year's own budget is what it held before
    allocated = budget.allocated_micros + (carried + forfeited if closed else 0)
    left = allocated - budget.spent_micros - budget.reserved_micros
    return TokenYear(
        allocated_micros=allocated,
        spent_micros=budget.spent_micros,
        held_micros=budget.reserved_micros,
        tokens_used=tokens or 0,
        carried_micros=carried,
        forfeited_micros=forfeited,
        year_closed=closed is not None,
        tokens_left=tokens_at_rate(max(0, left), rate.usd_per_token),
        rate_basis=rate.basis,
    )


def rewards_statement(
    *,
    employee: Employee,
    fiscal_year: int,
    as_of: date | None = None,
    context: RolloverContext | None = None,
) -> Statement:
    """One employee's statement for a fiscal year, as of `as_of` (default today, or the year's
    last day for a past year): the pay record in force then, and the token budget's year."""
    period = fiscal_year_period(fiscal_year)
    as_of = min(as_of or company_today(), period.end - timedelta(days=1))
    pay = pay_in_force(employee, as_of)
    tokens = token_year(employee, fiscal_year, context=context)
    notes = []
    if pay is None:
        notes.append(
            "There is no pay record on file for this year: the statement shows the token "
            "budget only. HR records pay under Compensation › Pay records."
        )
    user = employee.user
    return Statement(
        employee_id=employee.pk,
        name=employee.display_name,
        email=user.email,
        level=str(employee.level),
        team=str(employee.team) if employee.team_id else "",
        fiscal_year=fiscal_year,
        period=period,
        as_of=as_of,
        pay=pay,
        lines=pay_lines(pay, period=period, allocated_micros=tokens.allocated_micros),
        tokens=tokens,
        # as the employee sees their own budget (the company's transparency for their team),
        # whoever prints it: HR hands out the same document the employee would open
        display=money_display_for(user, employee, sees_everything=False),
        notes=notes,
    )


def _carry_sentence(statement: Statement) -> str:
    tokens, next_year = statement.tokens, statement.fiscal_year + 1
    if tokens.year_closed:
        return (
            f"At the year's close {format_usd(tokens.carried_micros)} carried over to "
            f"FY{next_year} and {format_usd(tokens.forfeited_micros)} was forfeited."
        )
    return (
        f"If nothing more is spent by {statement.last_day:%B} {statement.last_day.day}, "
        f"{format_usd(tokens.carried_micros)} carries over to FY{next_year} under the company's "
        f"carryover policy and {format_usd(tokens.forfeited_micros)} is forfeited."
    )


def _token_rows(statement: Statement) -> list[tuple[str, str, str]]:
    """The token budget's year as the employee may see it (label, amount, note): dollars and
    tokens, tokens only, or (abstracted) how far through the budget they are."""
    tokens, display = statement.tokens, statement.display
    if display.amount(0) is None:
        used = utilisation_percent(
            allocated_micros=tokens.allocated_micros, spent_micros=tokens.spent_micros
        )
        return [("Used of this year's budget", f"{used:.0f}%" if used is not None else "–", "")]
    used_note = left_note = ""
    if display.shows_dollars:
        used_note = f"{tokens.tokens_used:,} tokens"
        left_note = f"about {tokens.tokens_left:,} tokens at {tokens.rate_basis}"
    return [
        ("Allocated this year", display.amount(tokens.allocated_micros), ""),
        ("Used", display.amount(tokens.spent_micros), used_note),
        ("Held for calls in progress", display.amount(tokens.held_micros), ""),
        ("Left", display.amount(tokens.left_micros), left_note),
        (
            "Carries over" if tokens.year_closed else "Would carry over",
            display.amount(tokens.carried_micros),
            f"to FY{statement.fiscal_year + 1}",
        ),
    ]


def statement_context(statement: Statement) -> dict:
    company = company_settings().name
    display = statement.display
    lines = []
    for line in statement.lines:
        amount = format_usd(line.amount_micros)
        if line.key == "token_budget" and not display.shows_dollars:
            amount = display.amount(line.amount_micros) or "see below"
        lines.append({"label": line.label, "amount": amount, "note": line.note})
    if display.shows_dollars:
        total_label, total = "Total", format_usd(statement.total_micros)
    else:
        total_label, total = "Total of pay and benefits", format_usd(statement.pay_total_micros)
    return {
        "company": company,
        "css_company": css_string(company),
        "css_header": css_string(f"Total rewards · {statement.name} · FY{statement.fiscal_year}"),
        "s": statement,
        "lines": lines,
        "total_label": total_label,
        "total": total,
        "token_rows": _token_rows(statement),
        "carry_sentence": _carry_sentence(statement) if display.shows_dollars else "",
    }


def statement_html(statement: Statement) -> str:
    return render_to_string("compensation/pdf/rewards.html", statement_context(statement))


def statement_pdf(statement: Statement, *, fonts=None) -> bytes:
    """`fonts`: a batch's common.pdf.font_cache(), shared by its statements."""
    return pdf_from_html(statement_html(statement), fonts=fonts)
