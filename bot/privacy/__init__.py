"""Personal data: redaction of free text, customers' consents, and the audit log of who read or
changed a customer's data."""

from bot.privacy._audit import ACTOR_KINDS, AuditLog, AuditRecord
from bot.privacy._consent import PURPOSES, Consent, ConsentService
from bot.privacy._errors import InvalidPrivacyRequest, PrivacyError
from bot.privacy._redaction import KINDS, RedactingFilter, Redaction, redact

__all__ = [
    "ACTOR_KINDS",
    "KINDS",
    "PURPOSES",
    "AuditLog",
    "AuditRecord",
    "Consent",
    "ConsentService",
    "InvalidPrivacyRequest",
    "PrivacyError",
    "RedactingFilter",
    "Redaction",
    "redact",
]
