"""Offer letters: the HR-edited template rendered with the package, and its PDF (WeasyPrint)."""

import hashlib
import json
from decimal import Decimal
from pathlib import Path

from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from budgets.calculations import tokens_at_rate
from budgets.paid_rate import PAID_RATE_DAYS, company_paid_rate
from common.errors import AllotError
from common.money import CENT, format_usd, micros_to_dollars
from common.pdf import css_string, pdf_from_html
from compensation.calculations import TradeDirection, first_year_budget
from compensation.currency import CASH_LINES, CURRENCIES, USD, convert_micros, format_money
from compensation.letter_engine import letter_body_render
from compensation.models import APPROVED_STATES, AllocationBasis, Offer, OfferLetterTemplate
from compensation.selectors import exchange_rate_on
from people.models import CompanySettings
from people.selectors import company_settings, company_today

DEFAULT_TEMPLATE_NAME = "Standard offer letter"
DEFAULT_BODY_PATH = Path(__file__).parent / "letter_templates" / "default.html"

BUDGET_PURPOSE = (
    "The budget pays for AI tokens: agents and assistants that write, review, test and debug "
    "code with you. It is yours to spend on your work, and you will see how much is left at "
    "any time."
)


def default_body() -> str:
    return DEFAULT_BODY_PATH.read_text(encoding="utf-8")


def letter_template() -> OfferLetterTemplate:
    """The default template, created from the built-in text if HR has none."""
    template = OfferLetterTemplate.objects.filter(is_default=True).first()
    if template is None:
        template, _ = OfferLetterTemplate.objects.get_or_create(
            name=DEFAULT_TEMPLATE_NAME, defaults={"body": default_body(), "is_default": True}
        )
    return template


def carryover_sentence(settings_row: CompanySettings) -> str:
    """The company's carryover policy in one sentence, for the letter."""
    share = Decimal(settings_row.carryover_share_percent).normalize()
    if share == 0:
        return (
            "Unused budget does not carry over: it is forfeited at the end of each fiscal year, "
            "so the budget is meant to be used."
        )
    cap = (
        f", up to {format_usd(settings_row.carryover_cap_micros)}"
        if settings_row.carryover_cap_micros is not None
        else ""
    )
    expiry = (
        f"; carried-over money expires after {settings_row.carryover_expiry_months} months"
        if settings_row.carryover_expiry_months
        else ""
    )
    return (
        f"At the end of each fiscal year, {share:f}% of your unused budget carries over to the "
        f"next year{cap}{expiry}. The rest is forfeited, so the budget is meant to be used."
    )


def _tokens(amount_micros: int, rate: Decimal) -> str:
    return f"{tokens_at_rate(amount_micros, rate):,}"


def _paid_rate(settings_row: CompanySettings) -> tuple[Decimal, str]:
    """What the company really pays per token (90 days), else the reference rate; and which."""
    paid = company_paid_rate()
    if paid is None:
        return settings_row.reference_rate_usd_per_token, "our reference rate"
    return paid, f"what {settings_row.name} paid per token over the last {PAID_RATE_DAYS} days"


def _in_currency(offer: Offer, lines: list[dict], today) -> tuple[str, str]:
    """The cash lines rewritten in the offer's currency at finance's rate of `today` (AllotError
    on the currency when there is none); the total and the sentence that says how."""
    rate = exchange_rate_on(currency=offer.currency, day=today)
    code, found = offer.currency, CURRENCIES[offer.currency]
    cash_total = Decimal(0)
    dollars_micros = 0
    for line, package_line in zip(lines, _printed_lines(offer), strict=True):
        if package_line.key in CASH_LINES:
            amount = convert_micros(
                package_line.amount_micros, currency=code, units_per_usd=rate.units_per_usd
            )
            line["amount"] = format_money(amount, code)
            cash_total += amount
        else:
            dollars_micros += package_line.amount_micros
    total = f"{format_money(cash_total, code)} + {format_usd(dollars_micros)}"
    sentence = (
        f"Cash and benefits are in {found.name} ({code}), at {rate.units_per_usd.normalize():f} "
        f"{code} to the US dollar, our rate for {today:%B} {today.day}, {today:%Y}. Stock value "
        "is in US dollars, as is the token budget: AI providers bill in dollars."
    )
    return total, sentence


ALWAYS_PRINTED = ("base_salary", "token_budget")  # the letter leaves out lines of $0


def _printed_lines(offer: Offer) -> list:
    return [line for line in offer.lines() if line.amount_micros or line.key in ALWAYS_PRINTED]


def _trade_sentence(trade) -> str:
    if trade.direction == TradeDirection.STOCK_TO_TOKENS:
        return (
            f"At your request, {format_usd(trade.given_micros)} a year of stock option value is "
            f"exchanged for {format_usd(trade.received_micros)} of token budget."
        )
    if trade.direction == TradeDirection.TOKENS_TO_STOCK:
        return (
            f"At your request, {format_usd(trade.given_micros)} of token budget is exchanged "
            f"for {format_usd(trade.received_micros)} a year of stock option value."
        )
    return ""


def letter_context(offer: Offer) -> dict:
    settings_row = company_settings()
    today = company_today()
    rate = settings_row.reference_rate_usd_per_token
    trade = offer.trade
    token_budget = trade.token_budget_micros
    trade_sentence = _trade_sentence(trade)
    first = first_year_budget(
        token_budget,
        start=offer.start_date,
        fiscal_year_start_month=settings_row.fiscal_year_start_month,
    )
    first_year_sentence = ""
    if first.amount_micros != token_budget:
        first_year_sentence = (
            f"For your first fiscal year (FY{first.fiscal_year}) the budget is prorated from "
            f"your start date: {format_usd(first.amount_micros)} for {first.days} of "
            f"{first.year_days} days."
        )
    lines = [
        {
            "key": line.key,
            "label": line.label,
            "amount": format_usd(line.amount_micros),
            "note": line.note,
        }
        for line in _printed_lines(offer)
    ]
    total, currency_sentence = format_usd(offer.total_annual_value_micros), ""
    if offer.currency != USD:
        total, currency_sentence = _in_currency(offer, lines, today)
    paid, paid_basis = _paid_rate(settings_row)
    for line in lines:
        if line["key"] == "token_budget":
            line["note"] = (
                f"{_tokens(token_budget, rate)} tokens at the reference rate"
                if paid == rate
                else f"about {_tokens(token_budget, paid)} tokens at {paid_basis}"
            )
    basis = {
        AllocationBasis.SENIORITY: "It is set by your level's band.",
        AllocationBasis.PROJECT: "It is set by your expected impact on the {} project.",
        AllocationBasis.BOTH: "It is set by your level's band and your expected impact on the "
        "{} project.",
    }[offer.allocation_basis].format(
        offer.allocation_project.name if offer.allocation_project_id else ""
    )
    candidate = offer.candidate
    # Plain values only: HR writes the template, so it must not reach model instances (and
    # through them, say, a user's password hash).
    return {
        "allocation_sentence": basis,
        "candidate": {
            "first_name": candidate.first_name,
            "last_name": candidate.last_name,
            "full_name": candidate.full_name,
            "email": candidate.email,
        },
        "offer": {
            "position_title": offer.position_title,
            "level": str(offer.level),
            "team": str(offer.team),
            "start_date": offer.start_date,
            "stock_option_count": offer.stock_option_count,
            "get_health_plan_display": offer.get_health_plan_display(),
            "get_remote_policy_display": offer.get_remote_policy_display(),
            "response_deadline": offer.response_deadline,
        },
        "css_company": css_string(settings_row.name),
        "css_candidate": css_string(f"Offer letter · {candidate.full_name}"),
        "hiring_manager": offer.hiring_manager.display_name,
        "company": settings_row.name,
        "lines": lines,
        "total": total,
        "currency": offer.currency,
        "currency_sentence": currency_sentence,
        "strike_price": format_usd(offer.stock_strike_price_micros),
        "stock_options": f"{offer.stock_option_count:,}",
        "token_budget": format_usd(token_budget),
        "token_budget_dollars": micros_to_dollars(token_budget),
        "tokens_at_reference_rate": _tokens(token_budget, rate),
        "reference_rate": f"${rate.normalize():f}",
        "tokens_at_paid_rate": _tokens(token_budget, paid),
        "paid_rate": f"${(paid * 1_000_000).quantize(CENT)} per million tokens",
        "paid_rate_basis": paid_basis,
        "token_purpose": BUDGET_PURPOSE,
        "carryover_sentence": carryover_sentence(settings_row),
        "trade_sentence": trade_sentence,
        "first_year_sentence": first_year_sentence,
        "response_deadline": offer.response_deadline,
        "today": today,
        # In the hash too, so the letter made once the package is approved is a new one.
        "is_draft": offer.state not in APPROVED_STATES,
    }


def letter_html(
    offer: Offer, template: OfferLetterTemplate | None = None, context: dict | None = None
) -> str:
    """The whole letter as HTML: the HR template's body, rendered in the letters' sandbox,
    inside the paged-media frame (`context`: letter_context(offer), if the caller has it).
    AllotError when the template cannot make a letter (one stored before it was checked)."""
    template = template or letter_template()
    context = context or letter_context(offer)
    try:
        body = letter_body_render(template.body, context)
    except AllotError as exc:
        raise AllotError(
            f"The letter template “{template.name}” cannot make a letter: {exc.message} "
            "Correct it under Offer letter templates.",
            field="template",
        ) from exc
    return render_to_string(
        "compensation/pdf/letter.html",
        {**context, "body": mark_safe(body)},  # nosec B308 B703  # noqa: S308
    )


def letter_pdf(html: str) -> bytes:
    return pdf_from_html(html)


def package_hash(offer: Offer, context: dict | None = None) -> str:
    """Of everything the letter prints (`context`: letter_context(offer)): the package, and
    also the hiring manager, the names of level, team and project, the company's settings it
    quotes and the date. A stored letter is reused only while each of them is what it says."""
    printed = {"package": offer.package_snapshot(), "letter": context or letter_context(offer)}
    return hashlib.sha256(json.dumps(printed, sort_keys=True, default=str).encode()).hexdigest()
