"""A customer message's way through the hub: store, detect language, ask the bot, store replies."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bot.conversations._errors import EmptyMessage, MessageTooLong
from bot.conversations._store import close_turn, open_turn
from bot.dialogue import BotReply, DialogueUnavailable, RasaClient
from bot.language import Language
from bot.storage import Database

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboundMessage:
    """A customer message, normalized by its channel connector."""

    channel: str
    sender: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """What came of one inbound message."""

    conversation_id: str
    replies: list[BotReply]
    language: Language
    mode: str


class ConversationService:
    """Stores every message in both directions and routes customer messages to the bot."""

    def __init__(
        self,
        database: Database,
        dialogue: RasaClient,
        *,
        max_text_chars: int,
        default_language: Language,
    ) -> None:
        self._db = database
        self._dialogue = dialogue
        self._max_text_chars = max_text_chars
        self._default_language = default_language

    async def receive(self, inbound: InboundMessage) -> Turn:
        """Handle one customer message; raises ``MessageRejected`` or ``DialogueUnavailable``."""
        text = self._checked_text(inbound.text)
        # Stored before the bot sees it: if Rasa fails, the message is kept, marked "failed".
        turn = await self._db.transaction(
            partial(
                open_turn,
                channel=inbound.channel,
                sender=inbound.sender,
                text=text,
                metadata=inbound.metadata,
                default_language=self._default_language,
            )
        )
        if turn.mode != "bot":
            return Turn(turn.conversation_id, [], turn.language, turn.mode)
        metadata = {
            **inbound.metadata,
            "channel": inbound.channel,
            # The channel's id of the customer: actions use it to find the customer's orders.
            "customer_id": inbound.sender,
            "language": turn.language,
        }
        try:
            replies = await self._dialogue.send(turn.conversation_id, text, metadata)
        except DialogueUnavailable:
            await self._db.transaction(partial(close_turn, turn=turn, status="failed"))
            raise
        await self._db.transaction(
            partial(close_turn, turn=turn, status="answered", replies=replies)
        )
        logger.debug(
            "Conversation %s: %d chars in (%s), %d replies",
            turn.conversation_id, len(text), turn.language, len(replies),
        )  # fmt: skip
        return Turn(turn.conversation_id, replies, turn.language, turn.mode)

    def _checked_text(self, text: str) -> str:
        stripped = text.strip()
        if not stripped:
            raise EmptyMessage("text is empty; send at least one visible character")
        if len(stripped) > self._max_text_chars:
            raise MessageTooLong(
                f"text is {len(stripped)} characters long; the limit is {self._max_text_chars}"
            )
        return stripped
