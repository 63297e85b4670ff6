"""The audit log: who read or changed which customer's data, when and why. Append-only: there is
no API to change or remove an entry."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.privacy._errors import InvalidPrivacyRequest
from bot.privacy._redaction import Redaction
from bot.privacy._tables import AuditEntry
from bot.storage import Database, utcnow

logger = logging.getLogger(__name__)

ACTOR_KINDS = ("agent", "admin", "system", "customer")
MAX_REASON_CHARS = 200
MAX_LIST = 1000
# "conversation.read", "consent.grant", "order.verify_failed": what was done, never what was said.
_ACTION = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*){0,3}")


@dataclass(frozen=True)
class AuditRecord:
    """One entry of the audit log."""

    id: int
    at: datetime
    actor_kind: str
    actor_id: str
    action: str
    customer_id: str
    reason: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditRecord:
        return cls(
            entry.id,
            entry.at,
            entry.actor_kind,
            entry.actor_id,
            entry.action,
            entry.customer_id,
            entry.reason,
        )


def check_customer_id(customer_id: str) -> None:
    """A customer id is 1 to 128 characters without spaces at either end."""
    if not customer_id or len(customer_id) > 128 or customer_id != customer_id.strip():
        raise InvalidPrivacyRequest(
            "customer_id must be 1 to 128 characters with no spaces at either end"
        )


def audit_entry(
    actor_kind: str, actor_id: str, action: str, customer_id: str, reason: str
) -> AuditEntry:
    """A checked, unsaved audit entry; every problem is named at once."""
    problems = []
    if actor_kind not in ACTOR_KINDS:
        problems.append(f"actor_kind must be one of {', '.join(ACTOR_KINDS)}, not {actor_kind!r}")
    if len(actor_id) > 64:
        problems.append("actor_id must be at most 64 characters")
    if not _ACTION.fullmatch(action) or len(action) > 64:
        problems.append(
            f"action must be dotted lower-case words such as 'conversation.read', not {action!r}"
        )
    try:
        check_customer_id(customer_id)
    except InvalidPrivacyRequest as exc:
        problems.append(str(exc))
    if len(reason) > MAX_REASON_CHARS:
        problems.append(
            f"reason must be at most {MAX_REASON_CHARS} characters: say why, do not quote messages"
        )
    found = tuple(dict.fromkeys(Redaction.of(reason).kinds + Redaction.of(actor_id).kinds))
    if found:
        problems.append(
            "the audit record must hold no personal data beyond the customer id; found "
            + ", ".join(found)
        )
    if problems:
        raise InvalidPrivacyRequest("; ".join(problems))
    return AuditEntry(
        at=utcnow(),
        actor_kind=actor_kind,
        actor_id=actor_id,
        action=action,
        customer_id=customer_id,
        reason=reason,
    )


class AuditLog:
    """Records and lists who read or changed a customer's data."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def record(
        self, actor_kind: str, actor_id: str, action: str, customer_id: str, reason: str = ""
    ) -> AuditRecord:
        """Append an entry; ``reason`` says why in a few words and never quotes a message."""
        entry = audit_entry(actor_kind, actor_id, action, customer_id, reason)

        def add(session: Session) -> AuditRecord:
            session.add(entry)
            session.flush()
            return AuditRecord.of(entry)

        return await self._db.session(add)

    async def list(
        self,
        *,
        customer_id: str | None = None,
        actor_kind: str | None = None,
        actor_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Entries matching every filter given, newest first (at most ``limit``)."""
        if not 1 <= limit <= MAX_LIST:
            raise InvalidPrivacyRequest(f"limit must be between 1 and {MAX_LIST}, not {limit}")
        if actor_kind is not None and actor_kind not in ACTOR_KINDS:
            raise InvalidPrivacyRequest(f"actor_kind must be one of {', '.join(ACTOR_KINDS)}")
        query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        if customer_id is not None:
            query = query.where(AuditEntry.customer_id == customer_id)
        if actor_kind is not None:
            query = query.where(AuditEntry.actor_kind == actor_kind)
        if actor_id is not None:
            query = query.where(AuditEntry.actor_id == actor_id)
        if since is not None:
            query = query.where(AuditEntry.at >= since)
        if until is not None:
            query = query.where(AuditEntry.at < until)
        limited = query.limit(limit)
        return await self._db.session(
            lambda s: [AuditRecord.of(e) for e in s.execute(limited).scalars()]
        )
