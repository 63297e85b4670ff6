"""Errors of the ticketing module; the REST adapter maps each to an HTTP status in one place."""


class TicketError(Exception):
    """Base class of ticketing errors."""


class InvalidTicket(TicketError):
    """A value given for a ticket is not allowed; the message names the field and what fits."""


class TicketNotFound(TicketError):
    """No such ticket, or not one the asking customer may see (the two are told apart nowhere)."""


class InvalidStatusChange(TicketError):
    """The ticket cannot move from its current status to the one asked for."""


class StaleTicket(TicketError):
    """The ticket changed since the version the caller read; read it again and redo the change."""


class IdempotencyConflict(TicketError):
    """An idempotency key was used before for a different ticket body."""
