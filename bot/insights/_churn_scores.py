"""The latest churn score of each customer, with its top reasons in both languages.

``churn-score`` writes them; the retention job reads the risky ones and the console shows an
agent the reasons of the customer in front of them. One row per customer: a new scoring run
replaces the old score (the model's history is in its training report, not here).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Float, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.storage import Base, Database, utcnow

logger = logging.getLogger(__name__)

MAX_REASONS = 3
MAX_REASON_CHARS = 200


class ChurnScoreRow(Base):
    """A customer's latest calibrated churn risk, value and reasons (JSON lists, zh and en)."""

    __tablename__ = "insights_churn_scores"

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    risk: Mapped[float] = mapped_column(Float)
    value: Mapped[float] = mapped_column(Float)
    reasons_zh: Mapped[str] = mapped_column(Text)
    reasons_en: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(64))
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class ChurnScore:
    """One customer's churn risk and its strongest reasons in words."""

    customer_id: str
    channel: str
    risk: float
    value: float
    reasons_zh: tuple[str, ...]
    reasons_en: tuple[str, ...]
    model: str
    scored_at: datetime | None = None

    def reasons(self, language: str) -> tuple[str, ...]:
        """The reasons in ``language`` (Chinese for "zh", English otherwise)."""
        return self.reasons_zh if language == "zh" else self.reasons_en


def _reasons(texts: Sequence[str]) -> str:
    return json.dumps([t[:MAX_REASON_CHARS] for t in texts[:MAX_REASONS]], ensure_ascii=False)


def _score(row: ChurnScoreRow) -> ChurnScore:
    return ChurnScore(
        row.customer_id,
        row.channel,
        row.risk,
        row.value,
        tuple(json.loads(row.reasons_zh)),
        tuple(json.loads(row.reasons_en)),
        row.model,
        row.scored_at,
    )


class ChurnScores:
    """Stores and reads the latest churn score per customer."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def replace(self, scores: Sequence[ChurnScore]) -> int:
        """Store a scoring run: each customer's previous score gives way to the new one."""

        def work(session: Session) -> int:
            ids = [s.customer_id for s in scores]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                session.execute(delete(ChurnScoreRow).where(ChurnScoreRow.customer_id.in_(chunk)))
            now = utcnow()
            for s in scores:
                session.add(
                    ChurnScoreRow(
                        customer_id=s.customer_id,
                        channel=s.channel,
                        risk=round(float(s.risk), 4),
                        value=round(float(s.value), 2),
                        reasons_zh=_reasons(s.reasons_zh),
                        reasons_en=_reasons(s.reasons_en),
                        model=s.model[:64],
                        scored_at=now,
                    )
                )
            return len(scores)

        stored = await self._db.session(work)
        logger.info("Stored %d churn scores", stored)
        return stored

    async def of(self, customer_id: str) -> ChurnScore | None:
        """The customer's latest score, or None when they were never scored."""

        def load(session: Session) -> ChurnScore | None:
            row = session.get(ChurnScoreRow, customer_id)
            return None if row is None else _score(row)

        return await self._db.session(load)

    async def at_least(self, risk: float, limit: int = 10_000) -> list[ChurnScore]:
        """Scores with risk ≥ ``risk``, riskiest first."""

        def load(session: Session) -> list[ChurnScore]:
            query = (
                select(ChurnScoreRow)
                .where(ChurnScoreRow.risk >= risk)
                .order_by(ChurnScoreRow.risk.desc(), ChurnScoreRow.customer_id)
                .limit(limit)
            )
            return [_score(r) for r in session.scalars(query)]

        return await self._db.session(load)

    async def export_customer(self, customer_id: str) -> dict[str, object]:
        """A customer's stored score and reasons (their data export)."""
        score = await self.of(customer_id)
        if score is None:
            return {"scores": []}
        shown = {
            **asdict(score),
            "scored_at": score.scored_at.isoformat() if score.scored_at else None,
        }
        return {"scores": [shown]}

    async def erase_customer(self, customer_id: str) -> dict[str, int]:
        """Delete the customer's score (their erasure)."""

        def work(session: Session) -> int:
            result = session.execute(
                delete(ChurnScoreRow).where(ChurnScoreRow.customer_id == customer_id)
            )
            return int(getattr(result, "rowcount", 0) or 0)

        return {"scores": await self._db.session(work)}
