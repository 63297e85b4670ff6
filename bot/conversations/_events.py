"""What happens in conversations, told to whoever listens (web-chat sockets, the agent console).

In-process only: with several hub replicas, socket.io's message queue carries the emits between
them, so each replica only tells its own listeners.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

logger = logging.getLogger(__name__)

# "notice": a message to the customer that is stored nowhere (their conversation was just erased,
# or it holds what is theirs alone, such as an export's download link);
# ``data`` names its recipient (``sender``) and a unique ``notice_id``.
EventKind = Literal["message", "mode", "handoff", "typing", "notice"]


@dataclass(frozen=True)
class StoredMessage:
    """A message as stored, for delivery to customers and agents."""

    id: int
    conversation_id: str
    direction: str  # "in" | "out"
    author: str  # "customer" | "bot" | "agent" | "system"
    text: str
    payload: dict[str, Any] | None
    language: str | None
    created_at: datetime
    sentiment: float | None = None

    def as_json(self) -> dict[str, Any]:
        """Plain JSON for sockets and APIs."""
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "direction": self.direction,
            "author": self.author,
            "text": self.text,
            "payload": self.payload,
            "language": self.language,
            "created_at": self.created_at.isoformat(),
            "sentiment": self.sentiment,
        }


@dataclass(frozen=True)
class ConversationEvent:
    """One thing that happened in a conversation."""

    kind: EventKind
    conversation_id: str
    channel: str
    message: StoredMessage | None = None
    data: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[ConversationEvent], Awaitable[None]]


class ConversationEvents:
    """Publish/subscribe for conversation events; a failing listener does not stop the others."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` for every event from now on."""
        self._listeners.append(listener)

    async def publish(self, event: ConversationEvent) -> None:
        """Tell every listener; errors are logged, not raised to the publisher."""
        results = await asyncio.gather(
            *(listener(event) for listener in self._listeners), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                logger.error(
                    "A listener failed on a %s event of conversation %s",
                    event.kind,
                    event.conversation_id,
                    exc_info=result,
                )
