"""Personal data: redaction of free text, customers' consents, the audit log of who read or
changed a customer's data, a customer's export and erasure (through the shop, an admin, or
typed in the chat with a download link), and retention."""

from bot.privacy._audit import ACTOR_KINDS, AuditLog, AuditRecord
from bot.privacy._chat import (
    CHAT_REPLIES,
    CONFIRM_ERASE_WORDS,
    ERASE_PROMPT,
    ERASE_WINDOW,
    ERASE_WORDS,
    EXPORT_SENT,
    EXPORT_WORDS,
    OPT_IN_WORDS,
    ChatAnswer,
    ChatRequestKind,
    ChatRequests,
    EarlierMessage,
    chat_request,
    erasure_pending,
)
from bot.privacy._consent import PURPOSES, Consent, ConsentService
from bot.privacy._errors import (
    ExportLinkExpired,
    ExportLinkInvalid,
    ExportLinkRefused,
    InvalidPrivacyRequest,
    PrivacyError,
)
from bot.privacy._links import DOWNLOAD_PATH, EXPORT_LINK_TTL, ExportLinks
from bot.privacy._retention import Retention, RetentionRule, Sweep
from bot.privacy._rights import (
    ConversationData,
    DialogueData,
    ErasureReport,
    KeptFile,
    MediaData,
    PersonalData,
    Subject,
    TicketData,
)
from bot.privacy._subjects import (
    IDENTIFIED_CHANNELS,
    anonymous_sender,
    customer_id,
    customer_key,
    identified_sender,
    vouched_senders,
)
from bot.redaction import KINDS, RedactingFilter, Redaction, names_a_person, redact

__all__ = [
    "ACTOR_KINDS",
    "CHAT_REPLIES",
    "CONFIRM_ERASE_WORDS",
    "DOWNLOAD_PATH",
    "ERASE_PROMPT",
    "ERASE_WINDOW",
    "ERASE_WORDS",
    "EXPORT_LINK_TTL",
    "EXPORT_SENT",
    "EXPORT_WORDS",
    "IDENTIFIED_CHANNELS",
    "KINDS",
    "OPT_IN_WORDS",
    "PURPOSES",
    "AuditLog",
    "AuditRecord",
    "ChatAnswer",
    "ChatRequestKind",
    "ChatRequests",
    "Consent",
    "ConsentService",
    "ConversationData",
    "DialogueData",
    "EarlierMessage",
    "ErasureReport",
    "ExportLinkExpired",
    "ExportLinkInvalid",
    "ExportLinkRefused",
    "ExportLinks",
    "InvalidPrivacyRequest",
    "KeptFile",
    "MediaData",
    "PersonalData",
    "PrivacyError",
    "RedactingFilter",
    "Redaction",
    "Retention",
    "RetentionRule",
    "Subject",
    "Sweep",
    "TicketData",
    "anonymous_sender",
    "chat_request",
    "customer_id",
    "customer_key",
    "erasure_pending",
    "identified_sender",
    "names_a_person",
    "redact",
    "vouched_senders",
]
