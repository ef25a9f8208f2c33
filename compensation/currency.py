"""Offers in the candidate's currency (pure, no database): the currencies an offer's cash lines
can be shown in, the conversion from dollars at a day's rate, and how an amount is written.
The token budget is never converted: providers bill in dollars."""

from decimal import Decimal
from typing import NamedTuple

from common.money import ROUNDING, Micros, micros_to_dollars

USD = "USD"


class Currency(NamedTuple):
    name: str
    symbol: str
    minor_digits: int


CURRENCIES: dict[str, Currency] = {
    "USD": Currency("US dollars", "$", 2),
    "EUR": Currency("euros", "€", 2),
    "GBP": Currency("pounds sterling", "£", 2),
    "CAD": Currency("Canadian dollars", "CA$", 2),
    "AUD": Currency("Australian dollars", "A$", 2),
    "CHF": Currency("Swiss francs", "CHF ", 2),
    "SEK": Currency("Swedish kronor", "SEK ", 2),
    "PLN": Currency("Polish złoty", "PLN ", 2),
    "INR": Currency("Indian rupees", "₹", 2),
    "JPY": Currency("Japanese yen", "¥", 0),
}
CURRENCY_CHOICES = [(code, f"{code} ({c.name})") for code, c in CURRENCIES.items()]
# Cash and benefits: converted. Stock is valued in dollars (the share price is), the token
# budget is what providers bill, in dollars.
CASH_LINES = frozenset(
    {"base_salary", "sign_on", "health", "match_401k", "professional_development"}
)


def convert_micros(amount_micros: Micros, *, currency: str, units_per_usd: Decimal) -> Decimal:
    """Dollars (micros) in `currency` at `units_per_usd`, to its minor unit, half up."""
    quantum = Decimal(1).scaleb(-CURRENCIES[currency].minor_digits)
    return (micros_to_dollars(amount_micros) * units_per_usd).quantize(quantum, rounding=ROUNDING)


def format_money(amount: Decimal, currency: str) -> str:
    """'€92,000.00', '¥15,000,000' (the amount as converted: no further rounding)."""
    found = CURRENCIES[currency]
    sign = "-" if amount < 0 else ""
    return f"{sign}{found.symbol}{abs(amount):,.{found.minor_digits}f}"
