"""The knowledge base's gaps: what customers asked that it could not answer, most asked first.

Read from the conversations the hub stores (the conversations module lists them), nothing is
recorded for it: a bot reply whose
``custom.knowledge.abstained`` is true (``action_answer_from_knowledge`` sends it) marks the
customer message before it as unanswered. Questions are grouped by their normalized text and
shown with personal data (phone, ID and card numbers, e-mail addresses) redacted: the report is
for writing FAQ entries, and a deleted conversation leaves it with its messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.privacy import redact
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


@dataclass(frozen=True)
class RepliedQuestion:
    """A customer message and the bot reply that followed it (its payload says how it was
    answered); the conversations module lists them, newest reply first."""

    question_id: int
    question: str
    language: str | None
    asked_at: datetime
    payload: Any


RepliesSince = Callable[[datetime, int], Awaitable[Sequence[RepliedQuestion]]]


async def gaps_report(
    replies_since: RepliesSince, knowledge: Callable[[], KnowledgeBase], days: int, limit: int
) -> dict[str, Any]:
    """The unanswered questions of the last ``days``, each asked again of the knowledge base as
    it is now (left unasked when the knowledge base cannot be opened), as JSON.

    ``replies_since(since, scan_limit)`` is the conversations module's list of questions and
    the bot replies to them; the wiring passes it in (conversations depend on insights).
    """
    since = datetime.now(UTC) - timedelta(days=days)
    gaps = unanswered(await replies_since(since, SCAN_LIMIT), limit)
    try:
        if gaps:  # an empty list does not load the embedding model
            gaps = await asyncio.to_thread(lambda: ask_again(gaps, knowledge()))
    except KnowledgeError as exc:
        logger.warning("Unanswered questions not asked again: %s", exc)
    return {"since": since.isoformat(), "questions": [g.to_dict() for g in gaps]}


def unanswered(replies: Sequence[RepliedQuestion], limit: int) -> list[Gap]:
    """The ``limit`` most asked of ``replies``' questions that the knowledge base declined."""
    groups: dict[str, list[tuple[str, str | None, datetime]]] = {}
    seen: set[int] = set()
    for reply in replies:
        if reply.question_id in seen or not _abstained(reply.payload):
            continue
        seen.add(reply.question_id)
        shown = redact(reply.question).strip()
        key = question_key(shown) or shown
        if key:
            groups.setdefault(key, []).append((shown, reply.language, reply.asked_at))
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
