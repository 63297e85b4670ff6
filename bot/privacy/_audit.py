"""The audit log: who read or changed which customer's data, when and why.

Append-only twice over: there is no API to change or remove an entry, and the database itself
refuses an UPDATE, DELETE (or TRUNCATE) of the table (triggers of migration 0401). Nothing in
the platform needs either: an erasure keeps the audit records, which hold the customer's key and
what was done but never what was said (see ``bot.privacy._rights``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.privacy._errors import InvalidPrivacyRequest
from bot.privacy._tables import AuditEntry
from bot.redaction import Redaction
from bot.storage import Database, utcnow

logger = logging.getLogger(__name__)

ACTOR_KINDS = ("agent", "admin", "system", "customer")
MAX_REASON_CHARS = 200
MAX_LIST = 1000
# An agent keeps a conversation open and the console reads it again on every refresh: the same
# read within this window is covered by the record of the first (see ``AuditLog.record_read``).
READ_WINDOW = timedelta(minutes=10)
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
    actor_kind: str,
    actor_id: str,
    action: str,
    customer_id: str,
    reason: str,
    *,
    at: datetime | None = None,
) -> AuditEntry:
    """A checked, unsaved audit entry (``at``: now unless given); every problem is named at
    once."""
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
        at=at or utcnow(),
        actor_kind=actor_kind,
        actor_id=actor_id,
        action=action,
        customer_id=customer_id,
        reason=reason,
    )


class AuditLog:
    """Records and lists who read or changed a customer's data."""

    def __init__(
        self,
        database: Database,
        *,
        read_window: timedelta = READ_WINDOW,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = database
        self._read_window = read_window
        self._now = clock

    async def record(
        self, actor_kind: str, actor_id: str, action: str, customer_id: str, reason: str = ""
    ) -> AuditRecord:
        """Append an entry; ``reason`` says why in a few words and never quotes a message."""
        entry = audit_entry(actor_kind, actor_id, action, customer_id, reason, at=self._now())

        def add(session: Session) -> AuditRecord:
            session.add(entry)
            session.flush()
            return AuditRecord.of(entry)

        return await self._db.session(add)

    async def record_read(
        self, actor_kind: str, actor_id: str, action: str, customer_id: str, reason: str
    ) -> AuditRecord:
        """Audit a read of a customer's data, once per window: the record of the same read (same
        actor, action, customer and reason, which names what was read) written less than the
        read window ago stands for this one and is returned; otherwise a new one is appended.

        So every read has a record of it at most one window older. The log being append-only,
        a repeat cannot be counted on the earlier record. Two replicas reading at the same
        instant may both write one: a read is never left out, at worst recorded twice."""
        now = self._now()
        entry = audit_entry(actor_kind, actor_id, action, customer_id, reason, at=now)
        same_read = (
            select(AuditEntry)
            .where(
                AuditEntry.customer_id == customer_id,
                AuditEntry.at > now - self._read_window,
                AuditEntry.actor_kind == actor_kind,
                AuditEntry.actor_id == actor_id,
                AuditEntry.action == action,
                AuditEntry.reason == reason,
            )
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(1)
        )

        def add(session: Session) -> AuditRecord:
            earlier = session.execute(same_read).scalar_one_or_none()
            if earlier is not None:
                return AuditRecord.of(earlier)
            session.add(entry)
            session.flush()
            return AuditRecord.of(entry)

        return await self._db.session(add)

    async def record_listed(
        self, actor_kind: str, actor_id: str, action: str, customer_ids: Sequence[str], reason: str
    ) -> int:
        """Audit a listing that showed several customers' data (a queue's previews, a ticket
        list): one read per customer, as :meth:`record_read` would write each, in one query and
        one transaction however long the list. How many records were written."""
        now = self._now()
        keys = list(dict.fromkeys(customer_ids))
        entries = [audit_entry(actor_kind, actor_id, action, key, reason, at=now) for key in keys]
        if not entries:
            return 0
        recent = select(AuditEntry.customer_id).where(
            AuditEntry.customer_id.in_(keys),
            AuditEntry.at > now - self._read_window,
            AuditEntry.actor_kind == actor_kind,
            AuditEntry.actor_id == actor_id,
            AuditEntry.action == action,
            AuditEntry.reason == reason,
        )

        def add(session: Session) -> int:
            covered = set(session.execute(recent).scalars())
            fresh = [e for e in entries if e.customer_id not in covered]
            session.add_all(fresh)
            return len(fresh)

        return await self._db.session(add)

    async def count(self, *, action: str, reason: str, since: datetime) -> int:
        """How many entries with exactly this ``action`` and ``reason`` were written since
        ``since`` (a failed verification's limit over every conversation counts its records)."""
        query = (
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.at >= since,
                AuditEntry.action == action,
                AuditEntry.reason == reason,
            )
        )
        return await self._db.session(lambda session: int(session.execute(query).scalar_one()))

    async def list(
        self,
        *,
        customer_id: str | None = None,
        actor_kind: str | None = None,
        actor_id: str | None = None,
        action: str | None = None,
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
        if action is not None:
            query = query.where(AuditEntry.action == action)
        if since is not None:
            query = query.where(AuditEntry.at >= since)
        if until is not None:
            query = query.where(AuditEntry.at < until)
        limited = query.limit(limit)
        return await self._db.session(
            lambda s: [AuditRecord.of(e) for e in s.execute(limited).scalars()]
        )
