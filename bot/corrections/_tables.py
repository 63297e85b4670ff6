"""The corrections table: what an agent said a customer message meant, and the review; and the
reports of the NLU retrainings that learnt from them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage import Base


class IntentCorrection(Base):
    """One agent's correction of the intent the bot gave a customer message."""

    __tablename__ = "intent_corrections"
    __table_args__ = (
        Index("ix_intent_corrections_status_id", "status", "id"),
        Index("ix_intent_corrections_customer", "customer"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The message goes when it expires (retention); the redacted example stays for training.
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), unique=True
    )
    conversation_id: Mapped[str] = mapped_column(String(32))
    customer: Mapped[str] = mapped_column(String(128))  # the customer key erasure goes by
    text: Mapped[str] = mapped_column(Text)  # personal data redacted
    language: Mapped[str] = mapped_column(String(8))
    wrong_intent: Mapped[str | None] = mapped_column(String(64))  # None: the bot gave none
    right_intent: Mapped[str] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))  # pending | accepted | rejected
    reviewer: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column()


class RetrainReport(Base):
    """One NLU retraining: what it added, the old and new model's test scores, the swap."""

    __tablename__ = "intent_retrain_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column()
    model: Mapped[str] = mapped_column(String(64))  # the new model's file name
    swapped: Mapped[bool] = mapped_column()
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
