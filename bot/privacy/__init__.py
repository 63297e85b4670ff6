"""Personal data: redaction of free text, customers' consents, the audit log of who read or
changed a customer's data, a customer's export and erasure, and retention."""

from bot.privacy._audit import ACTOR_KINDS, AuditLog, AuditRecord
from bot.privacy._consent import PURPOSES, Consent, ConsentService
from bot.privacy._errors import InvalidPrivacyRequest, PrivacyError
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
    customer_id,
    customer_key,
    identified_sender,
    vouched_senders,
)
from bot.redaction import KINDS, RedactingFilter, Redaction, names_a_person, redact

__all__ = [
    "ACTOR_KINDS",
    "IDENTIFIED_CHANNELS",
    "KINDS",
    "PURPOSES",
    "AuditLog",
    "AuditRecord",
    "Consent",
    "ConsentService",
    "ConversationData",
    "DialogueData",
    "ErasureReport",
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
    "customer_id",
    "customer_key",
    "identified_sender",
    "names_a_person",
    "redact",
    "vouched_senders",
]
