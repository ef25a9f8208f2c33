"""Offers with token budgets: level bands and the compensation policy, candidates,
offers and their negotiation rounds, and offer letters (templates HR edits, PDFs kept as sent)."""

from compensation.models.currency import ExchangeRate
from compensation.models.letters import LetterImmutableError, OfferLetter, OfferLetterTemplate
from compensation.models.offers import (
    APPROVED_STATES,
    CLOSED_STATES,
    EDITABLE_STATES,
    PACKAGE_FIELDS,
    AllocationBasis,
    Candidate,
    HealthPlan,
    Offer,
    OfferRound,
    OfferState,
    RemotePolicy,
    TradeChoice,
)
from compensation.models.pay import (
    PayRecord,
    PaySource,
    StatementRun,
    StatementRunState,
)
from compensation.models.policy import NOT_NEGATIVE, CompensationPolicy, LevelBand, policy

__all__ = [
    "APPROVED_STATES",
    "CLOSED_STATES",
    "EDITABLE_STATES",
    "NOT_NEGATIVE",
    "PACKAGE_FIELDS",
    "AllocationBasis",
    "Candidate",
    "CompensationPolicy",
    "ExchangeRate",
    "HealthPlan",
    "LetterImmutableError",
    "LevelBand",
    "Offer",
    "OfferLetter",
    "OfferLetterTemplate",
    "OfferRound",
    "OfferState",
    "PayRecord",
    "PaySource",
    "RemotePolicy",
    "StatementRun",
    "StatementRunState",
    "TradeChoice",
    "policy",
]
