"""Customers' consents: marketing and recommendation personalisation need a recorded opt-in.
Every grant and revocation is kept (the history), and each is written to the audit log in the
same transaction."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.privacy._audit import ACTOR_KINDS, audit_entry, check_customer_id
from bot.privacy._errors import InvalidPrivacyRequest
from bot.privacy._tables import ConsentRecord
from bot.storage import Database, utcnow

logger = logging.getLogger(__name__)

PURPOSES = ("marketing", "personalisation")
_CHANNEL = re.compile(r"[a-z0-9_-]{1,32}")


@dataclass(frozen=True)
class Consent:
    """A customer's consent (or its revocation) to a purpose on a channel, as recorded."""

    customer_id: str
    purpose: str
    channel: str
    granted: bool
    actor_kind: str
    recorded_at: datetime

    def as_json(self) -> dict[str, str | bool]:
        return {
            "customer_id": self.customer_id,
            "purpose": self.purpose,
            "channel": self.channel,
            "granted": self.granted,
            "actor_kind": self.actor_kind,
            "recorded_at": self.recorded_at.isoformat(),
        }

    @classmethod
    def of(cls, record: ConsentRecord) -> Consent:
        return cls(
            record.customer_id,
            record.purpose,
            record.channel,
            record.granted,
            record.actor_kind,
            record.recorded_at,
        )


def _check(customer_id: str, purpose: str, channel: str) -> None:
    problems = []
    try:
        check_customer_id(customer_id)
    except InvalidPrivacyRequest as exc:
        problems.append(str(exc))
    if purpose not in PURPOSES:
        problems.append(f"purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}")
    if not _CHANNEL.fullmatch(channel):
        problems.append(
            f"channel must be 1 to 32 lower-case letters, digits, '-' or '_', not {channel!r}"
        )
    if problems:
        raise InvalidPrivacyRequest("; ".join(problems))


class ConsentService:
    """Grants, revokes and answers for customers' consents; no record means no consent."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def grant(
        self,
        customer_id: str,
        purpose: str,
        channel: str,
        *,
        actor_kind: str = "customer",
        actor_id: str = "",
    ) -> Consent:
        """Record an opt-in, e.g. the customer tapping "yes" on web chat."""
        return await self._record(customer_id, purpose, channel, True, actor_kind, actor_id)

    async def revoke(
        self,
        customer_id: str,
        purpose: str,
        channel: str,
        *,
        actor_kind: str = "customer",
        actor_id: str = "",
    ) -> Consent:
        """Record an opt-out; the earlier grant stays in the history."""
        return await self._record(customer_id, purpose, channel, False, actor_kind, actor_id)

    async def _record(
        self,
        customer_id: str,
        purpose: str,
        channel: str,
        granted: bool,
        actor_kind: str,
        actor_id: str,
    ) -> Consent:
        _check(customer_id, purpose, channel)
        if actor_kind not in ACTOR_KINDS:
            raise InvalidPrivacyRequest(f"actor_kind must be one of {', '.join(ACTOR_KINDS)}")
        action = "consent.grant" if granted else "consent.revoke"
        entry = audit_entry(actor_kind, actor_id, action, customer_id, f"{purpose} on {channel}")
        record = ConsentRecord(
            customer_id=customer_id,
            purpose=purpose,
            channel=channel,
            granted=granted,
            actor_kind=actor_kind,
            recorded_at=utcnow(),
        )

        def add(session: Session) -> Consent:
            session.add_all([record, entry])
            session.flush()
            return Consent.of(record)

        return await self._db.session(add)

    async def current(self, customer_id: str) -> list[Consent]:
        """The latest record per purpose and channel, by purpose then channel."""
        latest: dict[tuple[str, str], Consent] = {}
        for consent in await self.history(customer_id):
            latest[(consent.purpose, consent.channel)] = consent
        return [latest[key] for key in sorted(latest)]

    async def allows(self, customer_id: str, purpose: str, channel: str) -> bool:
        """Whether the customer's latest word on this purpose and channel is a grant."""
        _check(customer_id, purpose, channel)
        return any(
            c.granted
            for c in await self.current(customer_id)
            if (c.purpose, c.channel) == (purpose, channel)
        )

    async def history(self, customer_id: str) -> list[Consent]:
        """Every grant and revocation of the customer, oldest first."""
        check_customer_id(customer_id)
        query = (
            select(ConsentRecord)
            .where(ConsentRecord.customer_id == customer_id)
            .order_by(ConsentRecord.recorded_at, ConsentRecord.id)
        )
        return await self._db.session(lambda s: [Consent.of(r) for r in s.execute(query).scalars()])
