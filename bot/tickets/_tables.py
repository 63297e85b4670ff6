"""Tables of the ticketing module (owned here; other modules call ``TicketService``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from bot.storage import Base, utcnow


class TicketRow(Base):
    """A ticket; ``version`` rises with every change (optimistic concurrency)."""

    __tablename__ = "tickets"
    __table_args__ = (
        # The queues: status, team and priority lists seek (IN lists multiply) within a period.
        Index("ix_tickets_queue", "status", "team", "priority", "created_at"),
        # With the id, PostgreSQL lists a page of ids from the index alone (no table reads).
        Index("ix_tickets_status_updated_at_id", "status", "updated_at", "id"),
        Index("ix_tickets_assignee_status_updated_at_id", "assignee", "status", "updated_at", "id"),
        Index("ix_tickets_next_due_at", "next_due_at"),
        Index("ix_tickets_sla_watch_at", "sla_watch_at"),
        Index("ix_tickets_created_at", "created_at"),
        Index("ix_tickets_customer_id_created_at", "customer_id", "created_at"),
        Index("ix_tickets_status_resolved_at", "status", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)  # T-YYYYMMDD-NNNN
    customer_id: Mapped[str] = mapped_column(String(128))
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16))
    team: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    vip_tier: Mapped[str | None] = mapped_column(String(16))
    satisfaction: Mapped[int | None] = mapped_column(default=None)
    satisfaction_comment: Mapped[str | None] = mapped_column(Text, default=None)
    merged_into: Mapped[str | None] = mapped_column(String(24), default=None)
    version: Mapped[int] = mapped_column(nullable=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # SLA: the clock starts at creation (again at a reopening) and stands still while pending.
    sla_started_at: Mapped[datetime] = mapped_column()
    paused_seconds: Mapped[int] = mapped_column(default=0)
    paused_at: Mapped[datetime | None] = mapped_column(default=None)
    first_response_due_at: Mapped[datetime | None] = mapped_column(default=None)
    first_responded_at: Mapped[datetime | None] = mapped_column(default=None)
    first_response_breached_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution_due_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution_breached_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    # The due time the clock now runs toward; NULL while paused, resolved or closed.
    next_due_at: Mapped[datetime | None] = mapped_column(default=None)
    # When the SLA job must next look at the ticket (its earliest due time not yet marked
    # breached); NULL when there is nothing to watch, so the job reads only tickets due now.
    sla_watch_at: Mapped[datetime | None] = mapped_column(default=None)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        # A stale write (someone saved in between) fails instead of overwriting their change.
        return {"version_id_col": cls.__table__.c.version}


class TicketEntryRow(Base):
    """A public reply, an internal note or information the customer added."""

    __tablename__ = "ticket_entries"
    __table_args__ = (Index("ix_ticket_entries_ticket_id_id", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # "reply" | "note" | "customer"
    author: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketAttachmentRow(Base):
    """A media original referenced by id, with its transcript or OCR text."""

    __tablename__ = "ticket_attachments"
    __table_args__ = (Index("ix_ticket_attachments_ticket_id", "ticket_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket_entries.id", ondelete="CASCADE")
    )
    media_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketHistoryRow(Base):
    """One change of one field of a ticket: who, when, old → new."""

    __tablename__ = "ticket_history"
    __table_args__ = (Index("ix_ticket_history_ticket_id_id", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(128))
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketCounterRow(Base):
    """The last ticket number handed out on a day; bumped in the creating transaction, so two hub
    replicas on one database never hand out the same number."""

    __tablename__ = "ticket_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)  # YYYYMMDD
    last: Mapped[int] = mapped_column()


class TicketNotificationRow(Base):
    """Outbox of messages for customers; a channel drains it and sets ``delivered_at``."""

    __tablename__ = "ticket_notifications"
    __table_args__ = (
        Index("ix_ticket_notifications_channel_delivered", "channel", "delivered_at"),
        Index("ix_ticket_notifications_conversation_id", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class TicketWebhookRow(Base):
    """Outbox of signed webhook posts; kept until the shop's endpoint answers 2xx."""

    __tablename__ = "ticket_webhooks"
    __table_args__ = (Index("ix_ticket_webhooks_pending", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON signed and posted
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class TicketAlertRow(Base):
    """An SLA breach for the supervisors of the ticket's team."""

    __tablename__ = "ticket_alerts"
    __table_args__ = (Index("ix_ticket_alerts_team_acknowledged", "team", "acknowledged_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    team: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
