"""Tables of the recommendation module: catalogue items, interaction events, user profiles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage import Base, utcnow


class ItemRow(Base):
    """One catalogue item as imported."""

    __tablename__ = "recommend_items"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(255))
    name_en: Mapped[str] = mapped_column(String(255))
    category: Mapped[str] = mapped_column(String(64))
    price: Mapped[float] = mapped_column()
    description_zh: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    stock: Mapped[int | None] = mapped_column(default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    image: Mapped[str | None] = mapped_column(String(1024), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class EventRow(Base):
    """One interaction of a customer with an item."""

    __tablename__ = "recommend_events"
    __table_args__ = (
        Index("ix_recommend_events_user_at", "user_id", "at"),
        Index("ix_recommend_events_item", "item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    item_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(default=None)
    channel: Mapped[str | None] = mapped_column(String(32), default=None)
    device: Mapped[str | None] = mapped_column(String(32), default=None)
    query: Mapped[str | None] = mapped_column(Text, default=None)
    at: Mapped[datetime] = mapped_column()


class ProfileRow(Base):
    """A customer's profile, updated on every event."""

    __tablename__ = "recommend_profiles"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    category_weights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    price_band_weights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    purchases: Mapped[int] = mapped_column(default=0)
    monetary: Mapped[float] = mapped_column(default=0.0)
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    events: Mapped[int] = mapped_column(default=0)
    last_purchase_at: Mapped[datetime | None] = mapped_column(default=None)
    last_event_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
