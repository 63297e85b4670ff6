"""Errors of the privacy module; the hub maps each to an HTTP status in one place."""


class PrivacyError(Exception):
    """Base class of privacy errors."""


class InvalidPrivacyRequest(PrivacyError):
    """A consent or audit request cannot be done as asked; the message says what to change."""


class ExportLinkRefused(PrivacyError):
    """A customer's export download link cannot be used; nothing was exported."""


class ExportLinkInvalid(ExportLinkRefused):
    """The link's token was changed, cut short or made by another hub: it names nobody."""


class ExportLinkExpired(ExportLinkRefused):
    """The link was genuine but its time is up; the customer asks for a new one in the chat."""
