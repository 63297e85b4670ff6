"""The intent of each customer message the bot handled, as Rasa's NLU gave it.

A table of this module rather than columns of the shared ``messages`` table: analytics is the
only reader, and the row goes with its message (erasure and expiry delete it by cascade).
"""

from __future__ import annotations

from sqlalchemy import Connection, Float, ForeignKey, String, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage import Base, Message


class MessageIntent(Base):
    """The NLU intent and confidence of one inbound message."""

    __tablename__ = "analytics_message_intents"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    intent: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)


def store_message_intent(
    connection: Connection, message_id: int, intent: str, confidence: float | None
) -> None:
    """Keep the intent of the customer message ``message_id`` (stored once per message)."""
    connection.execute(
        insert(MessageIntent).values(
            message_id=message_id, intent=intent[:64], confidence=confidence
        )
    )


def record_message_intent(
    connection: Connection, message_id: int, intent: str, confidence: float | None
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
    store_message_intent(connection, message_id, intent, confidence)
    return True


def intent_of_message(connection: Connection, message_id: int) -> tuple[str, float | None] | None:
    """The intent and confidence Rasa gave the customer message ``message_id``, if kept."""
    row = connection.execute(
        select(MessageIntent.intent, MessageIntent.confidence).where(
            MessageIntent.message_id == message_id
        )
    ).first()
    return None if row is None else (row.intent, row.confidence)
