"""Pure offer arithmetic (no ORM): proration of the first year's token budget, band checks, the
stock-for-tokens trade and the package's total annual value. Money is integer micro-dollars."""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from budgets.calculations import prorate_micros
from common.fiscal import fiscal_year_of, fiscal_year_period
from common.money import MICROS_PER_DOLLAR, ROUNDING, Micros, format_usd

MICROS_PER_CENT = MICROS_PER_DOLLAR // 100


@dataclass(frozen=True)
class ProratedBudget:
    fiscal_year: int
    amount_micros: Micros
    days: int  # days from the start date to the year end, both counted
    year_days: int


def first_year_budget(
    annual_micros: Micros, *, start: date, fiscal_year_start_month: int
) -> ProratedBudget:
    """The token budget of a hire's first fiscal year: the annual amount times the share of the
    year's days from the start date (counted) to the year's last day, half-up to the micro."""
    fiscal_year = fiscal_year_of(start, fiscal_year_start_month)
    period = fiscal_year_period(fiscal_year, fiscal_year_start_month)
    return ProratedBudget(
        fiscal_year=fiscal_year,
        amount_micros=prorate_micros(annual_micros, start=start, period=period),
        days=(period.end - start).days,
        year_days=period.days,
    )


# Bands -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BandCheck:
    label: str
    value_micros: Micros
    min_micros: Micros
    max_micros: Micros

    @property
    def below_by(self) -> Micros:
        return max(0, self.min_micros - self.value_micros)

    @property
    def above_by(self) -> Micros:
        return max(0, self.value_micros - self.max_micros)

    @property
    def outside_by(self) -> Micros:
        return self.below_by + self.above_by

    @property
    def within(self) -> bool:
        return self.outside_by == 0

    @property
    def message(self) -> str:
        band = f"{format_usd(self.min_micros)}–{format_usd(self.max_micros)}"
        if self.above_by:
            return f"{self.label} is {format_usd(self.above_by)} above the band ({band})"
        if self.below_by:
            return f"{self.label} is {format_usd(self.below_by)} below the band ({band})"
        return f"{self.label} is within the band ({band})"


def band_check(*, label: str, value_micros: Micros, min_micros: Micros, max_micros: Micros):
    if min_micros > max_micros:
        raise ValueError(f"the {label} band's minimum is above its maximum")
    return BandCheck(label, value_micros, min_micros, max_micros)


def outside_bands_micros(checks: list[BandCheck]) -> Micros:
    """How far a package goes outside its bands, in dollars summed over the bands: 0 within."""
    return sum(check.outside_by for check in checks)


# The stock-for-tokens trade ---------------------------------------------------------------


class TradeDirection:
    NONE = ""
    STOCK_TO_TOKENS = "stock_to_tokens"
    TOKENS_TO_STOCK = "tokens_to_stock"


class TradeError(ValueError):
    """A trade the policy does not allow; the message says why."""


@dataclass(frozen=True)
class Trade:
    direction: str
    given_micros: Micros  # what the candidate gives up, in the source's dollars
    received_micros: Micros  # what they get, in the other's dollars (whole cents, rounded down)
    stock_value_micros: Micros  # annualised stock value after the trade
    token_budget_micros: Micros  # annual token budget after the trade

    @property
    def value_change_micros(self) -> Micros:
        return self.received_micros - self.given_micros


def convert_micros(amount_micros: Micros, rate: Decimal) -> Micros:
    """`amount` times `rate`, rounded down to the cent: a trade never pays a fraction of a cent
    more than the rate allows."""
    cents = (Decimal(amount_micros) * rate / MICROS_PER_CENT).to_integral_value(ROUND_FLOOR)
    return int(cents) * MICROS_PER_CENT


def trade_apply(
    *,
    stock_value_micros: Micros,
    token_budget_micros: Micros,
    direction: str,
    given_micros: Micros,
    rate: Decimal,
    max_share_percent: Decimal = Decimal("100"),
) -> Trade:
    """Give up `given` dollars of one side for `given × rate` of the other.

    The rate is how many dollars of the other side one dollar buys; the policy keeps it at most
    1 in each direction's product (see CompensationPolicy), so a trade never raises total value.
    At most `max_share_percent` of the source may be traded."""
    if direction == TradeDirection.NONE or given_micros == 0:
        return Trade(TradeDirection.NONE, 0, 0, stock_value_micros, token_budget_micros)
    if given_micros < 0:
        raise TradeError("Trade a positive amount; choose the direction for the other way.")
    if rate <= 0:
        raise TradeError("The exchange rate must be above zero.")
    if direction == TradeDirection.STOCK_TO_TOKENS:
        source, label = stock_value_micros, "the stock options' annual value"
    elif direction == TradeDirection.TOKENS_TO_STOCK:
        source, label = token_budget_micros, "the token budget"
    else:
        raise TradeError(f"{direction!r} is not a trade direction.")
    cap = int(Decimal(source) * max_share_percent / 100)
    if given_micros > cap:
        raise TradeError(
            f"At most {max_share_percent.normalize():f}% of {label} ({format_usd(cap)}) may be "
            f"traded, not {format_usd(given_micros)}."
        )
    received = convert_micros(given_micros, rate)
    if direction == TradeDirection.STOCK_TO_TOKENS:
        stock, tokens = stock_value_micros - given_micros, token_budget_micros + received
    else:
        stock, tokens = stock_value_micros + received, token_budget_micros - given_micros
    return Trade(direction, given_micros, received, stock, tokens)


# The package -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageLine:
    key: str
    label: str
    amount_micros: Micros
    note: str = ""


def match_401k_micros(base_salary_micros: Micros, match_percent: Decimal) -> Micros:
    """The employer's most 401(k) match in a year: the percentage of base salary."""
    return int((Decimal(base_salary_micros) * match_percent / 100).to_integral_value(ROUNDING))


def package_lines(
    *,
    base_salary_micros: Micros,
    stock_value_micros: Micros,
    sign_on_bonus_micros: Micros,
    health_plan_cost_micros: Micros,
    match_401k_percent: Decimal,
    professional_development_micros: Micros,
    token_budget_micros: Micros,
) -> list[PackageLine]:
    """The lines of the total annual value, the token budget as its own line."""
    return [
        PackageLine("base_salary", "Base salary", base_salary_micros),
        PackageLine("stock", "Stock options (annualised value)", stock_value_micros),
        PackageLine("sign_on", "Sign-on bonus", sign_on_bonus_micros, "first year only"),
        PackageLine("health", "Health plan (employer's cost)", health_plan_cost_micros),
        PackageLine(
            "match_401k",
            "401(k) match",
            match_401k_micros(base_salary_micros, match_401k_percent),
            f"{match_401k_percent.normalize():f}% of base salary",
        ),
        PackageLine(
            "professional_development",
            "Professional development budget",
            professional_development_micros,
        ),
        PackageLine("token_budget", "Annual token budget", token_budget_micros),
    ]


def package_total_micros(lines: list[PackageLine]) -> Micros:
    return sum(line.amount_micros for line in lines)
