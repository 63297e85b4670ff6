"""Tables of the privacy module: consents (every change kept) and the append-only audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage import Base, utcnow


class ConsentRecord(Base):
    """One grant or revocation of a customer's consent to a purpose on a channel."""

    __tablename__ = "privacy_consents"
    __table_args__ = (Index("ix_privacy_consents_customer", "customer_id", "purpose", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(32))  # "marketing" | "personalisation"
    channel: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column()
    actor_kind: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who read or changed which customer's data, when and why; never message text."""

    __tablename__ = "privacy_audit_log"
    __table_args__ = (
        Index("ix_privacy_audit_customer", "customer_id", "at"),
        Index("ix_privacy_audit_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))  # "agent" | "admin" | "system" | "customer"
    actor_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(200))
