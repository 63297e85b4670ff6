"""Errors of the conversation service; the hub maps each to an HTTP status in one place."""


class ConversationError(Exception):
    """Base class of conversation errors."""


class MessageRejected(ConversationError):
    """The message cannot be accepted as sent; the text says what to change."""


class EmptyMessage(MessageRejected):
    """The message has no text."""


class MessageTooLong(MessageRejected):
    """The message text is longer than the configured limit."""


class ConversationNotFound(ConversationError):
    """No conversation has that id."""


class ConversationBusy(ConversationError):
    """The customer's earlier message was still being handled for too long; this one was not
    stored and can be sent again."""
