"""Conversations: the message store's service and the route of each message to the bot."""

from bot.conversations._errors import (
    ConversationError,
    EmptyMessage,
    MessageRejected,
    MessageTooLong,
)
from bot.conversations._service import ConversationService, InboundMessage, Turn

__all__ = [
    "ConversationError",
    "ConversationService",
    "EmptyMessage",
    "InboundMessage",
    "MessageRejected",
    "MessageTooLong",
    "Turn",
]
