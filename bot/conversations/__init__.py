"""Conversations: the message store's service and the route of each message to the bot."""

from bot.conversations._errors import (
    ConversationBusy,
    ConversationError,
    ConversationNotFound,
    EmptyMessage,
    MessageRejected,
    MessageTooLong,
)
from bot.conversations._events import (
    ConversationEvent,
    ConversationEvents,
    Listener,
    StoredMessage,
)
from bot.conversations._notices import csat_buttons, notice
from bot.conversations._service import (
    IDENTIFIED_CHANNELS,
    ConversationLocks,
    ConversationService,
    HandoffPolicy,
    InboundMessage,
    LinkedCustomer,
    TicketReceipt,
    Turn,
    UnattendedRequest,
    UnattendedTickets,
    VipLookup,
    csat_question,
    customer_id,
    customer_key,
    identified_sender,
)
from bot.conversations._store import ConversationPreview
from bot.conversations._summary import Summarizer, Summary, extractive_summary

__all__ = [
    "IDENTIFIED_CHANNELS",
    "ConversationBusy",
    "ConversationError",
    "ConversationEvent",
    "ConversationEvents",
    "ConversationLocks",
    "ConversationNotFound",
    "ConversationPreview",
    "ConversationService",
    "EmptyMessage",
    "HandoffPolicy",
    "InboundMessage",
    "LinkedCustomer",
    "Listener",
    "MessageRejected",
    "MessageTooLong",
    "StoredMessage",
    "Summarizer",
    "Summary",
    "TicketReceipt",
    "Turn",
    "UnattendedRequest",
    "UnattendedTickets",
    "VipLookup",
    "csat_buttons",
    "csat_question",
    "customer_id",
    "customer_key",
    "extractive_summary",
    "identified_sender",
    "notice",
]
