"""Tables of the outbox: outbound messages waiting for their app, and inbound deliveries seen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage import Base, utcnow


class OutboundRow(Base):
    """One message for a customer on a messaging app, stored before it is sent."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        # One outbox row per stored conversation message: a second enqueue is a no-op.
        UniqueConstraint("channel", "source_id", name="uq_outbox_messages_channel_source"),
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        # A read receipt names the message by the app's id for it.
        Index("ix_outbox_messages_receipt", "channel", "receipt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(128))
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column()  # the app's native message, as rendered
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | gave_up
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    # What the app says of the message after taking it: its id for it (Feishu's message_id,
    # DingTalk's processQueryKey), and when the recipient read it.
    receipt: Mapped[str | None] = mapped_column(String(128), default=None)
    read_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set for a message whose read status the app gives only when asked (DingTalk): it is asked
    # (``Outbox.unread``) until read or too old, the least recently asked first.
    follow_reads: Mapped[bool] = mapped_column(default=False)
    read_checked_at: Mapped[datetime | None] = mapped_column(default=None)


class InboundRow(Base):
    """A delivery from an app, kept by its message id: the unique key makes a retried delivery
    (on any replica) a duplicate; ``body`` holds the normalized message until it is handled, so
    a hub that stops in between handles it after the restart."""

    __tablename__ = "outbox_inbound"
    __table_args__ = (
        UniqueConstraint("channel", "message_id", name="uq_outbox_inbound_channel_message"),
        Index("ix_outbox_inbound_pending", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(128))
    body: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16))  # received | handled | failed
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(default=None)
