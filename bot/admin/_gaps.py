"""The knowledge base's gaps: what customers asked that it could not answer, most asked first.

Read from the conversations the hub stores, nothing is recorded for it: a bot reply whose
``custom.knowledge.abstained`` is true (``action_answer_from_knowledge`` sends it) marks the
customer message before it as unanswered. Questions are grouped by their normalized text and
shown with personal data (phone, ID and card numbers, e-mail addresses) redacted: the report is
for writing FAQ entries, and a deleted conversation leaves it with its messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from bot.logs import redact
from bot.storage import Database
from bot.storage.models import Message, utcnow
from knowledge import InvalidQuestion, KnowledgeBase, KnowledgeError, question_key

logger = logging.getLogger(__name__)

# Bot replies looked at, newest first: a bound on the report's cost on a large database.
SCAN_LIMIT = 20_000


@dataclass(frozen=True)
class Gap:
    """One question (in its latest wording) the knowledge base could not answer; whether it
    answers it now, once FAQ entries were added, is ``answered_now`` (None: not asked again)."""

    question: str
    asked: int
    last_asked: datetime
    language: str | None
    answered_now: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_asked"] = self.last_asked.isoformat()
        return data


async def gaps_report(
    database: Database, knowledge: Callable[[], KnowledgeBase], days: int, limit: int
) -> dict[str, Any]:
    """The unanswered questions of the last ``days``, each asked again of the knowledge base as
    it is now (left unasked when the knowledge base cannot be opened), as JSON."""
    since = utcnow() - timedelta(days=days)
    gaps = await database.transaction(lambda c: unanswered(c, since, limit))
    try:
        if gaps:  # an empty list does not load the embedding model
            gaps = await asyncio.to_thread(lambda: ask_again(gaps, knowledge()))
    except KnowledgeError as exc:
        logger.warning("Unanswered questions not asked again: %s", exc)
    return {"since": since.isoformat(), "questions": [g.to_dict() for g in gaps]}


def unanswered(connection: Connection, since: datetime, limit: int) -> list[Gap]:
    """The ``limit`` most asked questions since ``since`` that the knowledge base declined."""
    table = Message.__table__
    out = table.alias("reply")
    earlier = table.alias("earlier")
    question = table.alias("question")
    asked_id = (
        select(func.max(earlier.c.id))
        .where(
            earlier.c.conversation_id == out.c.conversation_id,
            earlier.c.direction == "in",
            earlier.c.id < out.c.id,
        )
        .scalar_subquery()
    )
    rows = connection.execute(
        select(
            question.c.id,
            question.c.text,
            question.c.language,
            question.c.created_at,
            out.c.payload,
        )
        .select_from(out.join(question, question.c.id == asked_id))
        .where(
            out.c.direction == "out",
            out.c.author == "bot",
            out.c.payload.is_not(None),
            out.c.created_at >= since,
        )
        .order_by(out.c.id.desc())
        .limit(SCAN_LIMIT)
    )
    groups: dict[str, list[tuple[str, str | None, datetime]]] = {}
    seen: set[int] = set()
    for message_id, text, language, created_at, payload in rows:
        if message_id in seen or not _abstained(payload):
            continue
        seen.add(message_id)
        shown = redact(str(text or "")).strip()
        key = question_key(shown) or shown
        if key:
            groups.setdefault(key, []).append((shown, language, created_at))
    gaps = [
        Gap(question=asks[0][0], asked=len(asks), last_asked=asks[0][2], language=asks[0][1])
        for asks in groups.values()  # newest first within each group
    ]
    gaps.sort(key=lambda gap: (gap.asked, gap.last_asked), reverse=True)
    return gaps[:limit]


def _abstained(payload: Any) -> bool:
    custom = payload.get("custom") if isinstance(payload, Mapping) else None
    knowledge = custom.get("knowledge") if isinstance(custom, Mapping) else None
    return isinstance(knowledge, Mapping) and knowledge.get("abstained") is True


def ask_again(gaps: Sequence[Gap], knowledge: KnowledgeBase) -> list[Gap]:
    """The gaps with whether the knowledge base, as it is now, answers them; raises
    ``KnowledgeError`` when it cannot be asked at all."""
    return [replace(gap, answered_now=_answers(knowledge, gap)) for gap in gaps]


def _answers(knowledge: KnowledgeBase, gap: Gap) -> bool | None:
    language = gap.language if gap.language in ("zh", "en") else None
    try:
        return not knowledge.answer(gap.question, language).abstained
    except InvalidQuestion:  # longer than a question may be: it stays a gap, not asked again
        return None
