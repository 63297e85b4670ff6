"""Errors of the handoff module; the hub maps each to an HTTP status in one place."""


class HandoffError(Exception):
    """Base class of handoff errors."""


class InvalidRequest(HandoffError):
    """The request cannot be done as asked; the message says what to change."""


class InvalidTransition(HandoffError):
    """A conversation or handoff cannot move from its current state to the one asked for."""


class NotAllowed(HandoffError):
    """The agent may not see or change this conversation."""


class NotFound(HandoffError):
    """No such handoff, conversation or agent."""


class AgentExists(HandoffError):
    """An agent with that username exists already."""


class InvalidCredentials(HandoffError):
    """Wrong username or password."""


class LoginThrottled(HandoffError):
    """Too many failed logins for this username or client; ``retry_after_s`` says when to retry."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
