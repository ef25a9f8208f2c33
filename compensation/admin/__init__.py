from compensation.admin.offers import OfferAdmin
from compensation.admin.policy import (
    CandidateAdmin,
    CompensationPolicyAdmin,
    LevelBandAdmin,
    OfferLetterAdmin,
    OfferLetterTemplateAdmin,
)

__all__ = [
    "CandidateAdmin",
    "CompensationPolicyAdmin",
    "LevelBandAdmin",
    "OfferAdmin",
    "OfferLetterAdmin",
    "OfferLetterTemplateAdmin",
]
