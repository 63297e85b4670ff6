"""A customer's rights over their data (PIPL arts. 45 and 47, GDPR arts. 15, 17 and 20): an export
of everything the hub holds about them, and its erasure everywhere it lives.

Each module keeps its own rows and exports and erases them behind its own service; this
service only asks each in turn, bundles the answers, and writes the audit records. The modules
reach it as arguments (protocols below): privacy sits beside them and imports none of them.

What stays after an erasure, and why:
- the audit log, with the customer's id and what was done but never what was said: it is the
  proof that the request was carried out (PIPL art. 54 audits; GDPR art. 5(2) accountability);
- the consent records, every current grant revoked by the erasure itself: they prove the lawful
  basis of past processing (PIPL art. 14; GDPR art. 7(1)) and hold no more than the customer id,
  the purpose, the channel and when;
- tickets, anonymised by the ticket module: their number, category and dates are the shop's
  books.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from bot.privacy._audit import AuditLog, AuditRecord, audit_entry, check_customer_id
from bot.privacy._consent import Consent, ConsentService
from bot.privacy._errors import InvalidPrivacyRequest
from bot.privacy._subjects import customer_id, customer_key

logger = logging.getLogger(__name__)

_CHANNEL = re.compile(r"[a-z0-9_-]{1,32}")
EXPORT_FORMAT = 1


@dataclass(frozen=True)
class Subject:
    """The customer a request is about: a sender on a channel."""

    channel: str
    sender: str

    def __post_init__(self) -> None:
        problems = []
        if not _CHANNEL.fullmatch(self.channel):
            problems.append(
                f"channel must be 1 to 32 lower-case letters, digits, '-' or '_', "
                f"not {self.channel!r}"
            )
        try:
            check_customer_id(self.sender)
        except InvalidPrivacyRequest:
            problems.append("sender must be 1 to 128 characters with no spaces at either end")
        if problems:
            raise InvalidPrivacyRequest("; ".join(problems))

    @property
    def customer_id(self) -> str | None:
        """The shop's id of the customer where the channel vouches for it."""
        return customer_id(self.channel, self.sender)

    @property
    def key(self) -> str:
        """Who the audit log, the consents and tickets name: the shop's customer id, else
        ``channel:sender`` (a web-chat session id means nothing without its channel)."""
        return customer_key(self.channel, self.sender)


class ConversationData(Protocol):
    """The conversations module's part (``bot.conversations.ConversationService``)."""

    async def find(self, channel: str, sender: str) -> str | None: ...

    async def export_customer(self, channel: str, sender: str) -> dict[str, Any] | None: ...

    async def erase_customer(self, channel: str, sender: str) -> dict[str, int]: ...


class KeptFile(Protocol):
    """A kept original (``bot.media.StoredAttachment``)."""

    @property
    def public_id(self) -> str: ...

    @property
    def format(self) -> str: ...

    @property
    def path(self) -> Path | None: ...

    def as_json(self) -> dict[str, Any]: ...


class MediaData(Protocol):
    """The media module's part (``bot.media.AttachmentStore``)."""

    async def export_customer(self, channel: str, sender: str) -> Sequence[KeptFile]: ...

    async def erase_customer(self, channel: str, sender: str) -> dict[str, int]: ...


class TicketData(Protocol):
    """The ticket module's part (``bot.tickets.TicketService``)."""

    async def export_customer(self, customer_id: str) -> list[dict[str, Any]]: ...

    async def erase_customer(self, customer_id: str, actor: str) -> int: ...


class DialogueData(Protocol):
    """Rasa's tracker store (``bot.dialogue.TrackerStoreEvents``), by conversation id."""

    async def export_conversation(self, sender_id: str) -> list[dict[str, Any]]: ...

    async def erase_conversation(self, sender_id: str) -> int: ...


class CustomerData(Protocol):
    """Another module's part, by the customer's key (``bot.marketing.MarketingService``…)."""

    async def export_customer(self, customer_id: str) -> dict[str, object]: ...

    async def erase_customer(self, customer_id: str) -> dict[str, int]: ...


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure removed, per module; no personal data."""

    customer: str
    conversations: dict[str, int]
    media: dict[str, int]
    tickets_anonymised: int
    tracker_events: int
    consents_revoked: int
    audit_id: int
    others: dict[str, dict[str, int]] = field(default_factory=dict)  # module → rows deleted

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class PersonalData:
    """Exports and erases everything the platform holds about a customer, and audits both."""

    def __init__(
        self,
        *,
        conversations: ConversationData,
        media: MediaData,
        tickets: TicketData,
        dialogue: DialogueData,
        consents: ConsentService,
        audit: AuditLog,
        others: Mapping[str, CustomerData] | None = None,
    ) -> None:
        self._others = dict(others or {})
        self._conversations = conversations
        self._media = media
        self._tickets = tickets
        self._dialogue = dialogue
        self._consents = consents
        self._audit = audit

    async def export(
        self, subject: Subject, *, actor_kind: str, actor_id: str = "", reason: str = ""
    ) -> bytes:
        """A zip: ``data.json`` with every module's part, consents and audit records, and the
        media originals under ``media/``. The export itself is audited first, so it is in it."""
        await self._audit.record(actor_kind, actor_id, "privacy.export", subject.key, reason)
        conversation = await self._conversations.export_customer(subject.channel, subject.sender)
        tracker: list[dict[str, Any]] = []
        if conversation is not None:
            tracker = await self._dialogue.export_conversation(str(conversation["id"]))
        kept = await self._media.export_customer(subject.channel, subject.sender)
        # Tickets name the customer by the same key (web-chat tickets opened in the dialogue too).
        tickets = await self._tickets.export_customer(subject.key)
        consents = await self._consents.history(subject.key)
        audit = await self._audit.list(customer_id=subject.key, limit=1000)
        data = {
            "format": EXPORT_FORMAT,
            "customer": {"channel": subject.channel, "sender": subject.sender, "id": subject.key},
            "conversation": conversation,
            "dialogue_events": tracker,
            "media": [_media_entry(file) for file in kept],
            "tickets": tickets,
            "consents": [asdict(c) for c in consents],
            "audit": [asdict(r) for r in audit],
        }
        for name, part in self._others.items():
            data[name] = await part.export_customer(subject.key)
        return await asyncio.to_thread(_zip, data, kept)

    async def erase(
        self, subject: Subject, *, actor_kind: str, actor_id: str = "", reason: str = ""
    ) -> ErasureReport:
        """Erase the customer everywhere: Rasa's events, the conversation (messages, handoffs,
        notes, cached summaries), media files and their text, tickets (anonymised); revoke
        their consents; then audit it. Erasing again finds nothing and says so."""
        # Checked before anything goes: a bad actor or reason must not leave a half erasure.
        await asyncio.to_thread(_check_audit, actor_kind, actor_id, subject.key, reason)
        conversation_id = await self._conversations.find(subject.channel, subject.sender)
        events = 0
        if conversation_id is not None:
            events = await self._dialogue.erase_conversation(conversation_id)
        conversations = await self._conversations.erase_customer(subject.channel, subject.sender)
        media = await self._media.erase_customer(subject.channel, subject.sender)
        tickets = await self._tickets.erase_customer(subject.key, f"{actor_kind}:{actor_id}"[:128])
        others = {
            name: await part.erase_customer(subject.key) for name, part in self._others.items()
        }
        revoked = 0
        for consent in await self._consents.current(subject.key):
            if consent.granted:
                await self._consents.revoke(
                    subject.key, consent.purpose, consent.channel, actor_kind="system"
                )
                revoked += 1
        counts = (
            f"conversations={conversations.get('conversations', 0)} "
            f"messages={conversations.get('messages', 0)} files={media.get('files', 0)} "
            f"tickets={tickets} events={events}"
        )
        why = f"{reason}; {counts}" if reason else counts
        record: AuditRecord = await self._audit.record(
            actor_kind, actor_id, "privacy.erase", subject.key, why[:200]
        )
        logger.info("Erased a customer's data on %s (audit record %d)", subject.channel, record.id)
        return ErasureReport(
            subject.key, conversations, media, tickets, events, revoked, record.id, others
        )

    async def consents(self, subject: Subject) -> tuple[list[Consent], list[Consent]]:
        """The customer's consents: the latest word per purpose and channel, and every grant and
        revocation, oldest first."""
        return await self._consents.current(subject.key), await self._consents.history(subject.key)

    async def record_consent(
        self,
        subject: Subject,
        purpose: str,
        granted: bool,
        *,
        channel: str | None = None,
        actor_kind: str,
        actor_id: str = "",
    ) -> Consent:
        """Record the customer's opt-in (``granted``) or opt-out for ``purpose`` on ``channel``
        (default: the subject's own channel); audited with it."""
        record = self._consents.grant if granted else self._consents.revoke
        return await record(
            subject.key,
            purpose,
            channel or subject.channel,
            actor_kind=actor_kind,
            actor_id=actor_id,
        )

    async def audit_trail(self, customer_id: str | None, limit: int) -> list[AuditRecord]:
        """Audit records, newest first, of one customer when given."""
        return await self._audit.list(customer_id=customer_id, limit=limit)


def _check_audit(actor_kind: str, actor_id: str, key: str, reason: str) -> None:
    audit_entry(actor_kind, actor_id, "privacy.erase", key, reason)


def _media_entry(file: KeptFile) -> dict[str, Any]:
    entry = file.as_json()
    entry["file"] = _archive_name(file) if file.path is not None and file.path.exists() else None
    return entry


def _archive_name(file: KeptFile) -> str:
    return f"media/{file.public_id}.{file.format}"


def _zip(data: dict[str, Any], kept: Sequence[KeptFile]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        text = json.dumps(data, ensure_ascii=False, indent=1, default=_json_value)
        archive.writestr("data.json", text)
        for file in kept:
            if file.path is not None and file.path.exists():
                archive.write(file.path, _archive_name(file))
    return buffer.getvalue()


def _json_value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
