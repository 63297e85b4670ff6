"""Errors of the identity module; the hub maps each to an HTTP status in one place."""


class IdentityError(Exception):
    """Base class of identity-link errors."""


class InvalidPhone(IdentityError):
    """A phone number that cannot be read as one (too short, too long, letters)."""
