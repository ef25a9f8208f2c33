"""Budgets, their append-only ledger, token prices and usage events.

Every amount is integer micro-dollars (see common.money). A budget's running totals are kept on
the row and moved in the same transaction as each ledger entry, so a balance is one row read;
only budgets.ledger writes entries and totals.
"""

from budgets.models.alerts import AlertClaim, AlertDelivery, AlertKind
from budgets.models.budget import Budget, Enforcement, OwnerKind
from budgets.models.close import MonthClose
from budgets.models.keys import ApiScope, IntegrationKey, default_scopes
from budgets.models.ledger import (
    SPENT_KINDS,
    EntryKind,
    LedgerEntry,
    LedgerEntryQuerySet,
    LedgerImmutableError,
)
from budgets.models.reservations import Reservation, ReservationState
from budgets.models.rollover import (
    CarryoverAppliesTo,
    CarryoverPolicy,
    RolloverItem,
    RolloverRun,
    RolloverState,
)
from budgets.models.usage import (
    DailySpend,
    PriceCorrection,
    TokenPrice,
    UsageCategory,
    UsageEvent,
)

__all__ = [
    "SPENT_KINDS",
    "AlertClaim",
    "AlertDelivery",
    "AlertKind",
    "ApiScope",
    "Budget",
    "CarryoverAppliesTo",
    "CarryoverPolicy",
    "DailySpend",
    "Enforcement",
    "EntryKind",
    "IntegrationKey",
    "LedgerEntry",
    "LedgerEntryQuerySet",
    "LedgerImmutableError",
    "MonthClose",
    "OwnerKind",
    "PriceCorrection",
    "Reservation",
    "ReservationState",
    "RolloverItem",
    "RolloverRun",
    "RolloverState",
    "TokenPrice",
    "UsageCategory",
    "UsageEvent",
    "default_scopes",
]
