"""Links app identities to one person by a phone number the app vouched for.

Only the phone's keyed hash is stored (``PhoneHasher``), never the number; the person's id is
derived from that hash, so two apps linking the same number at once agree without a lock. The
caller decides what "vouched for" means (Telegram's own contact, an app's user directory); a
number typed in a message never reaches this service.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.identity._errors import IdentityError
from bot.identity._tables import IdentityLinkRow
from bot.storage import Database, utcnow

logger = logging.getLogger(__name__)

PERSON_PREFIX = "person:"
PERSON_HASH_CHARS = 24
HASH_CHARS = 64


@dataclass(frozen=True)
class IdentityLink:
    """One app identity of a person, as an agent or an export sees it (no phone, no hash)."""

    channel: str
    sender: str
    person: str
    source: str
    linked_at: datetime

    @property
    def identity_key(self) -> str:
        return identity_key(self.channel, self.sender)


@dataclass(frozen=True)
class LinkResult:
    """A link made: the person, and the person's other identities (in other apps)."""

    person: str
    others: list[IdentityLink]


def identity_key(channel: str, sender: str) -> str:
    """How the platform names an app customer (``conversations.customer_key``'s form)."""
    return f"{channel}:{sender}"[:128]


class IdentityService:
    """The identity links, over the hub database."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def link(self, channel: str, sender: str, phone_hash: str, source: str) -> LinkResult:
        """Link ``channel:sender`` to the person of ``phone_hash`` (re-linking it when it was
        linked to another number before)."""
        if len(phone_hash) != HASH_CHARS or not all(c in "0123456789abcdef" for c in phone_hash):
            raise IdentityError("phone_hash must be the 64-hex-digit keyed hash of the phone")
        person = PERSON_PREFIX + phone_hash[:PERSON_HASH_CHARS]
        key = identity_key(channel, sender)

        def store(session: Session) -> None:
            session.execute(delete(IdentityLinkRow).where(IdentityLinkRow.identity_key == key))
            session.add(
                IdentityLinkRow(
                    identity_key=key,
                    channel=channel,
                    sender=sender,
                    person=person,
                    phone_hash=phone_hash,
                    source=source[:32],
                    linked_at=utcnow(),
                )
            )

        try:
            await self._db.session(store)
        except IntegrityError:  # the same identity linked at the same moment elsewhere
            await self._db.session(store)
        others = [link for link in await self._links(person) if link.identity_key != key]
        logger.info("Linked a %s customer to a person with %d other app(s)", channel, len(others))
        return LinkResult(person, others)

    async def person_of(self, channel: str, sender: str) -> str | None:
        """The person ``channel:sender`` is linked to; None when it is not linked."""
        key = identity_key(channel, sender)

        def load(session: Session) -> str | None:
            return session.scalar(
                select(IdentityLinkRow.person).where(IdentityLinkRow.identity_key == key)
            )

        return await self._db.session(load)

    async def linked(self, channel: str, sender: str) -> list[IdentityLink]:
        """The person's other app identities, oldest link first; [] when not linked."""
        person = await self.person_of(channel, sender)
        if person is None:
            return []
        key = identity_key(channel, sender)
        return [link for link in await self._links(person) if link.identity_key != key]

    async def _links(self, person: str) -> list[IdentityLink]:
        def load(session: Session) -> list[IdentityLink]:
            rows = session.scalars(
                select(IdentityLinkRow)
                .where(IdentityLinkRow.person == person)
                .order_by(IdentityLinkRow.linked_at, IdentityLinkRow.id)
            )
            return [
                IdentityLink(r.channel, r.sender, r.person, r.source, r.linked_at) for r in rows
            ]

        return await self._db.session(load)

    async def export_customer(self, customer_key: str) -> dict[str, object]:
        """The identity's link and the person's other identities (privacy export); the phone
        itself was never stored."""

        def load(session: Session) -> IdentityLinkRow | None:
            return session.scalar(
                select(IdentityLinkRow).where(IdentityLinkRow.identity_key == customer_key)
            )

        row = await self._db.session(load)
        if row is None:
            return {"link": None, "linked_identities": []}
        others = [
            link for link in await self._links(row.person) if link.identity_key != customer_key
        ]
        return {
            "link": {
                "person": row.person,
                "verified_by": row.source,
                "linked_at": row.linked_at.isoformat(),
                "phone": "kept only as a keyed hash",
            },
            "linked_identities": [
                {"channel": o.channel, "sender": o.sender, "linked_at": o.linked_at.isoformat()}
                for o in others
            ],
        }

    async def erase_customer(self, customer_key: str) -> dict[str, int]:
        """Remove the identity's link (the other identities stay linked to each other)."""

        def erase(session: Session) -> int:
            result = session.execute(
                delete(IdentityLinkRow).where(IdentityLinkRow.identity_key == customer_key)
            )
            return int(getattr(result, "rowcount", 0) or 0)

        return {"links": await self._db.session(erase)}
