"""A voice message or image's way into a conversation: sniff, keep, read, then hand it on.

The original is kept (for agents) before it is read, so a file that turns out silent or without
text is still there to look at. What was heard or read becomes the customer's message; from a
screenshot with an order id the dialogue gets Rasa's intent trigger for the order-status form.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.conversations import ConversationService, InboundMessage, Turn
from bot.language import Language
from bot.media._errors import KeptButUnreadable
from bot.media._store import AttachmentStore, StoredAttachment, discard
from channels.media import (
    EngineUnavailable,
    MediaError,
    MediaReader,
    MediaRejected,
    ScreenshotFacts,
    extract_facts,
)

logger = logging.getLogger(__name__)

# The dialogue's order-status intent and entity (bot/domain/orders.yml).
ORDER_STATUS_INTENT = "check_order_status"
PURGE_INTERVAL_S = 3600.0
CAPTION = {"zh": ("[图片]", "订单号"), "en": ("[Image]", "order")}
VOICE = {"zh": "[语音]", "en": "[Voice]"}

ReadListener = Callable[[str, str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class MediaUpload:
    """A file a customer sent, already on disk at ``path`` (moved into the store or deleted)."""

    channel: str
    sender: str
    path: Path
    filename: str | None = None
    declared_type: str | None = None
    language: Language | None = None  # the customer's language, when the channel knows it
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MediaTurn:
    """What came of an upload: the kept file, what was read from it, and the bot's turn."""

    attachment: StoredAttachment
    text: str
    language: str
    facts: ScreenshotFacts | None
    turn: Turn


class MediaIntake:
    """Turns uploads into conversation messages; keeps originals until their retention ends."""

    def __init__(
        self,
        reader: MediaReader,
        store: AttachmentStore,
        conversations: ConversationService,
        *,
        max_upload_bytes: int,
        max_text_chars: int,
    ) -> None:
        self.reader = reader
        self.store = store
        self.max_upload_bytes = max_upload_bytes
        self._conversations = conversations
        self._max_text_chars = max_text_chars
        self._listeners: list[ReadListener] = []
        self._sweeper: asyncio.Task[None] | None = None
        # Per customer, the event its latest upload sets when it is passed on (or given up).
        self._latest: dict[tuple[str, str], asyncio.Event] = {}

    def subscribe(self, listener: ReadListener) -> None:
        """Call ``listener(channel, sender, read)`` when a file was read, before the bot answers."""
        self._listeners.append(listener)

    async def start(self) -> None:
        """Delete expired originals now and every hour."""
        self._sweeper = asyncio.create_task(self._sweep())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await asyncio.to_thread(self.reader.close)

    async def receive(self, upload: MediaUpload) -> MediaTurn:
        """Read the upload and pass it on; raises ``MediaError`` or ``KeptButUnreadable``.

        Several uploads are read at once, but one customer's reach the conversation in the order
        they arrived: a short voice message does not overtake the long one sent before it.
        """
        key = (upload.channel, upload.sender)
        before = self._latest.get(key)
        mine = self._latest[key] = asyncio.Event()
        try:
            return await self._receive(upload, before)
        finally:
            mine.set()
            if self._latest.get(key) is mine:
                del self._latest[key]

    async def _receive(self, upload: MediaUpload, before: asyncio.Event | None) -> MediaTurn:
        try:
            media = await self.reader.sniff(
                upload.path, filename=upload.filename, declared_type=upload.declared_type
            )
        except MediaError:
            discard(upload.path)
            raise
        attachment = await self.store.keep(
            upload.path, channel=upload.channel, sender=upload.sender, media=media
        )
        assert attachment.path is not None
        facts: ScreenshotFacts | None = None
        duration: float | None = None
        try:
            if media.kind == "audio":
                heard = await self.reader.transcribe(attachment.path, upload.language)
                text, language, duration = heard.text, heard.language, heard.duration_s
            else:
                read = await self.reader.read_image(attachment.path)
                text, language, facts = read.text, read.language, extract_facts(read.text)
        except (MediaRejected, EngineUnavailable) as exc:
            await self.store.settle(attachment, status="rejected", reason=str(exc))
            raise KeptButUnreadable(exc, attachment.public_id) from exc
        attachment = await self.store.settle(
            attachment, status="accepted", text=text, language=language, duration_s=duration
        )
        read_event = {
            "attachment_id": attachment.public_id,
            "kind": media.kind,
            "text": text,
            "language": language,
            "facts": facts.as_json() if facts else None,
            "client_message_id": upload.metadata.get("client_message_id"),
        }
        if before is not None:
            await before.wait()
        for listener in self._listeners:
            await listener(upload.channel, upload.sender, read_event)
        inbound = self._inbound(upload, attachment, text, language, facts)
        turn = await self._conversations.receive(inbound)
        return MediaTurn(attachment, text, language, facts, turn)

    def _inbound(
        self,
        upload: MediaUpload,
        attachment: StoredAttachment,
        text: str,
        language: str,
        facts: ScreenshotFacts | None,
    ) -> InboundMessage:
        limit = self._max_text_chars
        media = {
            "attachment_id": attachment.public_id,
            "kind": attachment.kind,
            "format": attachment.format,
            "text": text[:limit],
            "language": language,
            "duration_s": attachment.duration_s,
            "facts": facts.as_json() if facts else None,
        }
        metadata = {**upload.metadata, "media": media}
        if facts is None:
            spoken = text[:limit].lstrip("/") or VOICE.get(language, "[Voice]")
            return InboundMessage(upload.channel, upload.sender, spoken, metadata)
        # The stored words are a caption in the customer's language, so a Chinese screenshot
        # does not switch an English conversation to Chinese; the dialogue gets the content.
        caption_language = upload.language or language
        label, order_word = CAPTION["zh" if caption_language == "zh" else "en"]
        if facts.order_ids:
            caption = f"{label} {order_word} {facts.order_ids[0]}"
            entities = {"order_id": facts.order_ids[0], "language": caption_language}
            dialogue = ORDER_STATUS_INTENT + json.dumps(entities, ensure_ascii=False)
            dialogue = "/" + dialogue
        else:
            caption = label
            # A leading "/" would make Rasa read the text as an intent trigger.
            dialogue = text[:limit].lstrip("/ ") or label
        return InboundMessage(upload.channel, upload.sender, caption, metadata, dialogue)

    async def _sweep(self) -> None:
        while True:
            try:
                await self.store.purge_expired()
            except Exception:
                logger.exception("Deleting expired media files failed; trying again later")
            await asyncio.sleep(PURGE_INTERVAL_S)
