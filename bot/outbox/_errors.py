"""Errors of the outbox: what a channel's sender raises to say how a failed send goes on."""


class OutboxError(Exception):
    """Base class of outbox errors."""


class SendFailed(OutboxError):
    """The app's API did not take the message now (down, rate-limited); it is tried again later."""


class Undeliverable(OutboxError):
    """The app's API refused the message for good (e.g. WeChat 45015: the customer has not written
    for 48 hours); the message is kept with the status ``gave_up`` and this reason."""


class OutboxMessageNotFound(OutboxError):
    """No outbox message has this id."""


class AlreadySent(OutboxError):
    """The message was delivered: there is nothing to retry or give up."""
