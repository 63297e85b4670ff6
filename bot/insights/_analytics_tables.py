"""The analytics read model: one row per UTC day, dimension values and metric (a daily rollup).

A long table (metric name, value) rather than one column per metric: handoff reasons and new
metrics need no migration, and the dashboard sums a few thousand rows however many messages
are stored.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage import Base


class AnalyticsDaily(Base):
    """The sum of one metric for one day and one combination of dimensions."""

    __tablename__ = "analytics_daily"
    __table_args__ = (Index("ix_analytics_daily_day", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[str] = mapped_column(String(10))  # "YYYY-MM-DD", UTC
    channel: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    intent: Mapped[str] = mapped_column(String(64))  # "" when no intent is known
    agent: Mapped[str] = mapped_column(String(128))  # "" when no agent took part
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)


class AnalyticsMarginal(Base):
    """The sum of one metric for one day and one value of one dimension (``dimension`` "" for
    the day's total): the unfiltered views read these, a few hundred rows a day, instead of
    every combination of dimensions in ``analytics_daily``."""

    __tablename__ = "analytics_marginals"
    __table_args__ = (Index("ix_analytics_marginals_day", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[str] = mapped_column(String(10))
    dimension: Mapped[str] = mapped_column(String(16))  # "" | channel | language | intent | agent
    key: Mapped[str] = mapped_column(String(128))
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)


class AnalyticsUnanswered(Base):
    """A customer message the knowledge base declined to answer, by its normalized text (the
    row goes with the message, so an erased conversation leaves nothing here)."""

    __tablename__ = "analytics_unanswered"
    __table_args__ = (Index("ix_analytics_unanswered_day", "day"),)

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    question_key: Mapped[str] = mapped_column(String(200))


class AnalyticsState(Base):
    """One row: bumped by every rollup rebuild, so every hub knows when its cached reports are
    out of date."""

    __tablename__ = "analytics_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column()
