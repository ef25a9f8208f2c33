"""Money is stored as integer micro-dollars (1 USD = 1,000,000 micros) and shown as Decimal dollars.

Integers keep every sum exact on every database (SQLite would store a DECIMAL column as a float);
Decimal is used only at the edges: forms, the API, reports. Never float, never round().
"""

import re
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TypeAlias

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

Micros: TypeAlias = int

MICROS_PER_DOLLAR = 1_000_000
MONEY_DECIMAL_PLACES = 6
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_DECIMAL_PLACES)  # 0.000001
CENT = Decimal("0.01")
# Ledger amounts are bounded so a sum over a whole company fits in a 64-bit integer.
MAX_MICROS = 10**15  # one billion dollars in a single entry
ROUNDING = ROUND_HALF_UP
# Money as text (the API, forms): an optional sign, ASCII digits and at most one point. Decimal()
# alone also takes "1_000", "1e3", " 5 ", "NaN" and other scripts' digits ("١٢٣").
DECIMAL_STRING = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
# What a person types in a form may also group thousands, as the form shows them: "150,000.00".
GROUPED_DECIMAL_STRING = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")
MAX_DECIMAL_STRING_LENGTH = 40  # far more digits than any amount Allot accepts


class MoneyError(ValueError):
    """A value that is not an exact amount of money."""


def parse_decimal_string(text: str) -> Decimal:
    """The one parser of money sent as text: digits, at most one point, an optional sign."""
    if len(text) > MAX_DECIMAL_STRING_LENGTH or DECIMAL_STRING.fullmatch(text) is None:
        shown = text if len(text) <= MAX_DECIMAL_STRING_LENGTH else text[:20] + "..."
        raise MoneyError(
            f"{shown!r} is not a decimal amount: send digits with at most one point and an "
            'optional sign, e.g. "1000.50" (no exponent, spaces or separators).'
        )
    return Decimal(text)


def dollars_to_micros(amount: Decimal | str | int, *, exact: bool = True) -> Micros:
    """Dollars (Decimal, decimal string or int) to micros.

    With ``exact`` (the default) more than six decimal places is an error, not a silent rounding;
    priced amounts pass ``exact=False`` and are rounded half-up to the micro.
    """
    if isinstance(amount, float):
        raise MoneyError("money must not be a float; pass a Decimal or a decimal string")
    if isinstance(amount, str):
        value = parse_decimal_string(amount)
    else:
        try:
            value = Decimal(amount)
        except (InvalidOperation, TypeError, ValueError) as exc:
            raise MoneyError(f"{amount!r} is not a decimal amount of dollars") from exc
    if not value.is_finite():
        raise MoneyError(f"{amount!r} is not a finite amount")
    # Refuse huge exponents before scaling: "1e999990" would build a million-digit integer.
    if value and value.adjusted() > 15:
        raise MoneyError(f"{amount} is larger than any single amount Allot accepts.")
    scaled = value.scaleb(MONEY_DECIMAL_PLACES)
    whole = scaled.to_integral_value(rounding=ROUNDING)
    if exact and whole != scaled:
        raise MoneyError(f"{amount} has more than {MONEY_DECIMAL_PLACES} decimal places")
    micros = int(whole)
    if abs(micros) > MAX_MICROS:
        raise MoneyError(f"{amount} is larger than any single amount Allot accepts")
    return micros


def micros_to_dollars(micros: Micros | None) -> Decimal:
    """Micros to exact Decimal dollars with six places."""
    return Decimal(micros or 0).scaleb(-MONEY_DECIMAL_PLACES).quantize(MONEY_QUANTUM)


def quantize_cents(amount: Decimal) -> Decimal:
    """The one rounding helper for display and letters: to the cent, half up."""
    return amount.quantize(CENT, rounding=ROUNDING)


def format_usd(micros: Micros | None) -> str:
    """'$1,234.57' (rounded to the cent for display only)."""
    dollars = quantize_cents(micros_to_dollars(micros))
    sign = "-" if dollars < 0 else ""
    return f"{sign}${abs(dollars):,.2f}"


def format_usd_short(micros: Micros) -> str:
    """Compact dollars for labels drawn on a chart: '$1.2M', '$45.6k', '$512' (one decimal
    past a thousand, whole dollars below, half up)."""
    dollars = micros_to_dollars(int(micros))
    sign, dollars = ("-" if dollars < 0 else ""), abs(dollars)
    for size, suffix in ((Decimal(10**6), "M"), (Decimal(10**3), "k")):
        if dollars >= size:
            short = (dollars / size).quantize(Decimal("0.1"), rounding=ROUNDING)
            return f"{sign}${short:,}{suffix}"
    return f"{sign}${dollars.quantize(Decimal(1), rounding=ROUNDING):,}"


def dollars_grouped(dollars: Decimal) -> str:
    """Dollars as a person reads them: '150,000.00' (thousands grouped, never '1.5E+5'), the
    sub-cent digits of a per-token price kept ('0.000003')."""
    cents = quantize_cents(dollars)
    return f"{cents:,.2f}" if cents == dollars else f"{dollars.normalize():,f}"


def format_usd_exact(micros: Micros) -> str:
    """'$150,000.00', or '$0.000003' for a per-token price: format_usd without its rounding."""
    dollars = micros_to_dollars(micros)
    sign = "-" if dollars < 0 else ""
    return f"{sign}${dollars_grouped(abs(dollars))}"


def parse_form_dollars(text: str) -> Decimal:
    """Dollars typed in a form: the one decimal-string parser, with thousands grouped by commas
    allowed where they belong ("150,000.00"; "1,50" is refused, not read as 150)."""
    text = text.strip()
    if GROUPED_DECIMAL_STRING.fullmatch(text):
        text = text.replace(",", "")
    return parse_decimal_string(text)


def divide_micros(numerator: int, denominator: int) -> Micros:
    """Integer division rounded half-up (Python's // floors, round() banks)."""
    if denominator <= 0:
        raise MoneyError("denominator must be positive")
    return int((Decimal(numerator) / Decimal(denominator)).to_integral_value(rounding=ROUNDING))


def spend_per_unit(*, spent_micros: Micros, units: Decimal) -> Micros | None:
    """Spend per unit of a productivity metric (e.g. per merged pull request), half-up to the
    micro; None when nothing was produced (no division by zero)."""
    if units <= 0:
        return None
    return int((Decimal(spent_micros) / units).to_integral_value(rounding=ROUNDING))


def percent(part: int, whole: int, *, places: int = 2, rounding: str = ROUNDING) -> Decimal | None:
    """The one percentage: part / whole * 100 to `places` decimal places, computed in integers
    so no amount of micros loses a digit. Rounded half-up (a tie goes away from zero, so 1 / 800
    is 0.13 %); or, with ROUND_FLOOR, down to what has been reached, which is what a threshold
    compares (79.9 % has not reached 80 %). None when the whole is zero; a negative share keeps
    its sign, as Decimal's own division would (-1 / 10**9 reads -0.00)."""
    if rounding not in (ROUND_HALF_UP, ROUND_FLOOR):
        raise ValueError(f"percent rounds half-up or down (floor), not {rounding}")
    if whole == 0:
        return None
    units, rest = divmod(abs(part) * 100 * 10**places, abs(whole))
    negative = (part < 0) != (whole < 0)
    if rounding == ROUND_HALF_UP and 2 * rest >= abs(whole):
        units += 1
    if rounding == ROUND_FLOOR and negative and rest:
        units += 1  # the floor of a negative quotient is one step further from zero
    # From its digits, so no Decimal context (28 digits) rounds a large result.
    return Decimal((int(negative), tuple(map(int, str(units))), -places))


class DollarsFormField(forms.DecimalField):
    """Edits a micros value as dollars: shows 100,000.00, takes it back (or 100000), cleans to
    100000000000. A text input, as a number input refuses the grouping it would be shown."""

    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})

    def __init__(self, **kwargs):
        kwargs.setdefault("decimal_places", MONEY_DECIMAL_PLACES)
        kwargs.setdefault("max_digits", 16)
        kwargs.pop("max_value", None)
        kwargs.pop("min_value", None)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return dollars_grouped(micros_to_dollars(value))
        return value

    def to_python(self, value):
        """What was typed, through the one decimal-string parser (spaces around it forgiven)."""
        if value in self.empty_values:
            return None
        if isinstance(value, Decimal):
            return value
        try:
            return parse_form_dollars(str(value))
        except MoneyError as exc:
            raise ValidationError(str(exc), code="invalid") from exc

    def clean(self, value):
        dollars = super().clean(value)
        if dollars is None:
            return None
        try:
            return dollars_to_micros(dollars)
        except MoneyError as exc:
            raise ValidationError(str(exc)) from exc


class MicrosField(models.BigIntegerField):
    """An amount of money stored as integer micro-dollars; forms edit it in dollars."""

    def formfield(self, **kwargs):
        kwargs.setdefault("form_class", DollarsFormField)
        return super().formfield(**kwargs)
