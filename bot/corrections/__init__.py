"""Intent corrections: agents say what a customer message meant, supervisors review (and settle
the messages the bot was unsure about), and accepted corrections become training examples of the
NLU model."""

from bot.corrections._errors import (
    CorrectionError,
    CorrectionNotFound,
    CorrectionReviewed,
    InvalidCorrection,
)
from bot.corrections._service import (
    STATUSES,
    Correction,
    CorrectionService,
    Status,
    TrainingExample,
    UnsureItem,
    near_duplicate_key,
    training_yaml,
)

__all__ = [
    "STATUSES",
    "Correction",
    "CorrectionError",
    "CorrectionNotFound",
    "CorrectionReviewed",
    "CorrectionService",
    "InvalidCorrection",
    "Status",
    "TrainingExample",
    "UnsureItem",
    "near_duplicate_key",
    "training_yaml",
]
