"""``POST /api/messages``: a customer message in, the bot's replies out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.conversations import ConversationService, InboundMessage
from bot.dialogue import Button
from bot.language import Language

CHANNEL = "rest"


class MessageIn(BaseModel):
    """A customer message."""

    model_config = ConfigDict(extra="forbid")

    sender: str = Field(
        min_length=1, max_length=128, description="The customer's id, unique in your system."
    )
    text: str = Field(description="What the customer wrote.")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Anything the bot's actions should see."
    )

    @field_validator("sender")
    @classmethod
    def _sender_is_visible(cls, sender: str) -> str:
        if not sender.strip():
            raise ValueError("sender must contain a visible character")
        return sender.strip()


class ReplyOut(BaseModel):
    """One message from the bot."""

    text: str | None = None
    buttons: list[Button] = Field(default_factory=list)
    image: str | None = None
    custom: dict[str, Any] | None = None


class MessagesOut(BaseModel):
    """The bot's answer to one message."""

    conversation_id: str
    replies: list[ReplyOut]
    language: Language
    mode: str


def build_router(conversations: ConversationService) -> APIRouter:
    """The REST channel's routes, bound to the conversation service."""
    router = APIRouter(tags=["messages"])

    @router.post("/api/messages", response_model=MessagesOut)
    async def post_message(message: MessageIn) -> MessagesOut:
        turn = await conversations.receive(
            InboundMessage(CHANNEL, message.sender, message.text, message.metadata)
        )
        return MessagesOut(
            conversation_id=turn.conversation_id,
            replies=[ReplyOut.model_validate(r.model_dump()) for r in turn.replies],
            language=turn.language,
            mode=turn.mode,
        )

    return router
