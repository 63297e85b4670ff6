"""Errors of the intent corrections; the console maps each to an HTTP status in one place."""


class CorrectionError(Exception):
    """Base class of intent correction errors."""


class InvalidCorrection(CorrectionError):
    """A correction cannot be taken as sent; the message says what to change."""


class CorrectionNotFound(CorrectionError):
    """No correction, or no customer message, has that id."""


class CorrectionReviewed(CorrectionError):
    """The correction was accepted or rejected already; a review is final."""
