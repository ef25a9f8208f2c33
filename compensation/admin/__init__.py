from compensation.admin.offers import OfferAdmin
from compensation.admin.pay import PayRecordAdmin, StatementRunAdmin
from compensation.admin.policy import (
    CandidateAdmin,
    CompensationPolicyAdmin,
    ExchangeRateAdmin,
    LevelBandAdmin,
    OfferLetterAdmin,
    OfferLetterTemplateAdmin,
)

__all__ = [
    "CandidateAdmin",
    "CompensationPolicyAdmin",
    "ExchangeRateAdmin",
    "LevelBandAdmin",
    "OfferAdmin",
    "OfferLetterAdmin",
    "OfferLetterTemplateAdmin",
    "PayRecordAdmin",
    "StatementRunAdmin",
]
