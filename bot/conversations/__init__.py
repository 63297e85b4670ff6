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
    CommandAnswer,
    ConversationLocks,
    ConversationService,
    CustomerCommand,
    CustomerCommands,
    ForgetTexts,
    HandoffPolicy,
    InboundMessage,
    LinkedCustomer,
    TicketReceipt,
    Turn,
    UnattendedRequest,
    UnattendedTickets,
    VipLookup,
    anonymous_senders,
    csat_question,
)
from bot.conversations._store import ConversationPreview
from bot.conversations._summary import Summarizer, Summary, extractive_summary

# The rule of who a sender is lives with the privacy module (it also names whom records belong
# to); the conversations module speaks it too.
from bot.privacy import (
    IDENTIFIED_CHANNELS,
    customer_id,
    customer_key,
    identified_sender,
    vouched_senders,
)

__all__ = [
    "IDENTIFIED_CHANNELS",
    "CommandAnswer",
    "ConversationBusy",
    "ConversationError",
    "ConversationEvent",
    "ConversationEvents",
    "ConversationLocks",
    "ConversationNotFound",
    "ConversationPreview",
    "ConversationService",
    "CustomerCommand",
    "CustomerCommands",
    "EmptyMessage",
    "ForgetTexts",
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
    "anonymous_senders",
    "csat_buttons",
    "csat_question",
    "customer_id",
    "customer_key",
    "extractive_summary",
    "identified_sender",
    "notice",
    "vouched_senders",
]
