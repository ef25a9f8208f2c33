"""A pilot's arithmetic, pure (no ORM): metric per person, its change, and the difference in
differences. Exact fractions inside; one rounding at the end, half-up to the hundredth."""

from decimal import Decimal
from fractions import Fraction

from common.money import ROUNDING

HUNDREDTH = Decimal("0.01")


def as_decimal(value: Fraction) -> Decimal:
    """An exact fraction as a Decimal, half-up to 0.01 (the one rounding of these figures)."""
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        HUNDREDTH, rounding=ROUNDING
    )


def per_person(units: Decimal, people: int) -> Fraction | None:
    """Units per person; None for an empty group (no division by zero)."""
    if people <= 0:
        return None
    return Fraction(units) / people


def change_per_person(*, before: Decimal, during: Decimal, people: int) -> Fraction | None:
    """The metric per person during the pilot minus before it, for the same people."""
    if people <= 0:
        return None
    return (Fraction(during) - Fraction(before)) / people


def difference_in_differences(pilot: Fraction | None, control: Fraction | None) -> Fraction | None:
    """The pilot's change per person minus the control's: what the pilot added, if anything."""
    if pilot is None or control is None:
        return None
    return pilot - control
