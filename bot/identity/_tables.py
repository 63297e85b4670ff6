"""The identity module's table: which app identities belong to one customer (person)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage import Base, utcnow


class IdentityLinkRow(Base):
    """One app identity (``channel:sender``) linked to a person by a verified phone's hash."""

    __tablename__ = "identity_links"
    __table_args__ = (Index("ix_identity_links_person", "person"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_key: Mapped[str] = mapped_column(String(128), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    sender: Mapped[str] = mapped_column(String(128))
    person: Mapped[str] = mapped_column(String(40))
    phone_hash: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))  # what vouched for the phone
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
