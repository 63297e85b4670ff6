"""The intent of each customer message the bot handled, as Rasa's NLU gave it.

A table of this module rather than columns of the shared ``messages`` table: analytics is the
only reader, and the row goes with its message (erasure and expiry delete it by cascade).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Float,
    ForeignKey,
    Select,
    String,
    and_,
    insert,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, aliased, mapped_column

from bot.storage import Base, Conversation, Handoff, Message

# Rasa's intent when no intent was confident enough (its FallbackClassifier's, and ours).
FALLBACK_INTENT = "nlu_fallback"
RANKING_KEPT = 3  # the top of Rasa's ``intent_ranking`` kept per message
Ranking = tuple[tuple[str, float], ...]


class MessageIntent(Base):
    """The NLU intent and confidence of one inbound message."""

    __tablename__ = "analytics_message_intents"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    intent: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    # The top RANKING_KEPT of Rasa's ranking as [[intent, confidence], ...]; None before 0920.
    ranking: Mapped[list[list[Any]] | None] = mapped_column(JSON, default=None)


def store_message_intent(
    connection: Connection,
    message_id: int,
    intent: str,
    confidence: float | None,
    ranking: Sequence[tuple[str, float]] = (),
) -> None:
    """Keep the intent of the customer message ``message_id`` (stored once per message), with
    the top of Rasa's ranking when given."""
    top = [[name[:64], round(float(score), 4)] for name, score in ranking[:RANKING_KEPT]]
    connection.execute(
        insert(MessageIntent).values(
            message_id=message_id, intent=intent[:64], confidence=confidence, ranking=top or None
        )
    )


def record_message_intent(
    connection: Connection,
    message_id: int,
    intent: str,
    confidence: float | None,
    ranking: Sequence[tuple[str, float]] = (),
) -> bool:
    """Keep an intent read from Rasa's event stream: once per message, and only for a message
    the hub stored (a conversation started elsewhere, ``rasa shell``, is ignored). Whether it
    was kept."""
    known = connection.execute(select(Message.id).where(Message.id == message_id)).first()
    if known is None:
        return False
    seen = connection.execute(
        select(MessageIntent.message_id).where(MessageIntent.message_id == message_id)
    ).first()
    if seen is not None:
        return False
    store_message_intent(connection, message_id, intent, confidence, ranking)
    return True


def intent_of_message(connection: Connection, message_id: int) -> tuple[str, float | None] | None:
    """The intent and confidence Rasa gave the customer message ``message_id``, if kept."""
    row = connection.execute(
        select(MessageIntent.intent, MessageIntent.confidence).where(
            MessageIntent.message_id == message_id
        )
    ).first()
    return None if row is None else (row.intent, row.confidence)


@dataclass(frozen=True)
class UnsureMessage:
    """A customer message the bot was unsure about, with why (``reasons``: ``low_confidence``,
    ``fallback``, ``handoff``) and what it ranked. ``text`` is as stored: redact before showing."""

    message_id: int
    conversation_id: str  # the public id
    channel: str
    sender: str
    text: str
    language: str
    intent: str
    confidence: float | None
    ranking: Ranking
    reasons: tuple[str, ...]
    created_at: datetime


def unsure_messages(
    connection: Connection,
    *,
    below: float,
    language: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
    leave_out: Select[Any] | None = None,
) -> list[UnsureMessage]:
    """Customer messages, newest first, whose intent had a confidence below ``below``, or was
    the fallback, or after which the conversation was handed to a human (a handoff requested
    before the customer wrote again). ``leave_out``: a select of message ids not to list."""
    later = aliased(Message)
    customer_again = (
        select(later.id)
        .where(
            later.conversation_id == Message.conversation_id,
            later.direction == "in",
            later.id > Message.id,
            later.created_at <= Handoff.requested_at,
        )
        .correlate(Message, Handoff)
        .exists()
    )
    handed = (
        select(Handoff.id)
        .where(
            Handoff.conversation_id == Message.conversation_id,
            Handoff.requested_at >= Message.created_at,
            ~customer_again,
        )
        .correlate(Message)
        .exists()
    )
    low = and_(MessageIntent.confidence.is_not(None), MessageIntent.confidence < below)
    query = (
        select(
            Message.id,
            Message.text,
            Message.language,
            Message.created_at,
            Conversation.public_id,
            Conversation.channel,
            Conversation.sender,
            MessageIntent.intent,
            MessageIntent.confidence,
            MessageIntent.ranking,
            handed.label("handed"),
        )
        .join(MessageIntent, MessageIntent.message_id == Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.direction == "in",
            Message.author == "customer",
            or_(low, MessageIntent.intent == FALLBACK_INTENT, handed),
        )
        .order_by(Message.id.desc())
        .limit(limit)
    )
    if language is not None:
        query = query.where(Message.language == language)
    if before_id is not None:
        query = query.where(Message.id < before_id)
    if leave_out is not None:
        query = query.where(Message.id.not_in(leave_out))
    found = []
    for row in connection.execute(query):
        reasons = []
        if row.confidence is not None and row.confidence < below:
            reasons.append("low_confidence")
        if row.intent == FALLBACK_INTENT:
            reasons.append("fallback")
        if row.handed:
            reasons.append("handoff")
        ranking = tuple((str(n), float(c)) for n, c in (row.ranking or []))
        found.append(
            UnsureMessage(
                row.id,
                row.public_id,
                row.channel,
                row.sender,
                row.text,
                row.language or "zh",
                row.intent,
                row.confidence,
                ranking,
                tuple(reasons),
                row.created_at,
            )
        )
    return found


def intents_of_messages(
    connection: Connection, message_ids: Sequence[int]
) -> dict[int, tuple[str, float | None, Ranking]]:
    """The kept intent, confidence and ranking of each of the messages that has one."""
    if not message_ids:
        return {}
    rows = connection.execute(
        select(
            MessageIntent.message_id,
            MessageIntent.intent,
            MessageIntent.confidence,
            MessageIntent.ranking,
        ).where(MessageIntent.message_id.in_(list(message_ids)))
    )
    return {
        int(r.message_id): (
            r.intent,
            r.confidence,
            tuple((str(n), float(c)) for n, c in (r.ranking or [])),
        )
        for r in rows
    }
