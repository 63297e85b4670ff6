"""``POST /api/messages``: a customer message in, the bot's replies out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.conversations import ConversationService, InboundMessage
from bot.dialogue import Button
from bot.language import Language, detect_language
from bot.tickets import TicketService
from channels.connector import RateLimited, RateLimiter, client_address, rate_limited_response

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


class RateLimitedOut(BaseModel):
    """Over a rate limit: nothing was stored; send again after ``Retry-After`` seconds."""

    detail: str
    reason: str
    reply: str = Field(description="What to tell the customer, in their language.")
    retry_after: int


def build_router(
    conversations: ConversationService,
    limiter: RateLimiter,
    default_language: Language,
    *,
    limit_addresses: bool = True,
    tickets: TicketService | None = None,
) -> APIRouter:
    """The REST channel's routes, bound to the conversation service. Messages are limited per
    sender and, unless ``limit_addresses`` is off (callers are the shop's servers, behind the
    API key), per client address. With ``tickets``, the customer's undelivered ticket news (an
    agent's reply, a status change) comes first in the answer to their next message."""
    router = APIRouter(tags=["messages"])

    @router.post(
        "/api/messages",
        response_model=MessagesOut,
        responses={429: {"model": RateLimitedOut, "description": "Over a rate limit."}},
    )
    async def post_message(message: MessageIn, request: Request) -> MessagesOut | JSONResponse:
        address = client_address(request) if limit_addresses else None
        try:
            await limiter.message(address, f"{CHANNEL}:{message.sender}")
        except RateLimited as exc:
            language = detect_language(message.text, previous=default_language) or default_language
            return rate_limited_response(exc, language)
        turn = await conversations.receive(
            InboundMessage(CHANNEL, message.sender, message.text, message.metadata)
        )
        news = await _ticket_news(tickets, message.sender)
        answer = MessagesOut(
            conversation_id=turn.conversation_id,
            replies=[
                *(reply for _, reply in news),
                *(ReplyOut.model_validate(r.model_dump()) for r in turn.replies),
            ],
            language=turn.language,
            mode=turn.mode,
        )
        if news and tickets is not None:
            # Marked after the answer is built: a failure before this sends them again next time.
            await tickets.mark_delivered(id_ for id_, _ in news)
        return answer

    return router


async def _ticket_news(tickets: TicketService | None, sender: str) -> list[tuple[int, ReplyOut]]:
    """The customer's undelivered ticket notifications, oldest first, as replies."""
    if tickets is None:
        return []
    pending = await tickets.pending_notifications(CHANNEL, customer_id=sender)
    return [
        (n.id, ReplyOut(text=n.text, custom={"ticket": n.ticket, "kind": f"ticket_{n.kind}"}))
        for n in pending
    ]
