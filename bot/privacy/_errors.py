"""Errors of the privacy module; the hub maps each to an HTTP status in one place."""


class PrivacyError(Exception):
    """Base class of privacy errors."""


class InvalidPrivacyRequest(PrivacyError):
    """A consent or audit request cannot be done as asked; the message says what to change."""
