"""The briefing an agent reads when taking over: the configured LLM's summary, else an extractive
one (why the customer came, what upset them, where it stands). The one summary path."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from langchain_core.language_models import BaseChatModel

from bot.conversations._events import StoredMessage
from bot.handoff import HandoffView
from bot.privacy import redact
from knowledge import summarize_conversation

logger = logging.getLogger(__name__)

SUMMARY_MESSAGES = 40  # the latest messages an LLM summary reads
SUMMARY_LINE_CHARS = 300
SUMMARIES_KEPT = 256
_SPEAKERS = {"customer": "Customer", "bot": "Bot", "agent": "Agent", "system": "System"}


@dataclass(frozen=True)
class Summary:
    """A conversation's briefing, and whether an LLM wrote it."""

    text: str
    kind: Literal["llm", "extractive"]


class Summarizer:
    """Summaries by the LLM when one is configured (personal data redacted before it leaves),
    cached per conversation and latest message; the extractive one otherwise or when it fails."""

    def __init__(self, llm: BaseChatModel | None = None) -> None:
        self._llm = llm
        self._cache: OrderedDict[tuple[str, int], str] = OrderedDict()

    def forget(self, conversation_id: str | None = None) -> int:
        """Drop the cached summaries of a conversation (every conversation when None): they quote
        messages that are being erased or expire. Returns how many were dropped."""
        doomed = [key for key in self._cache if conversation_id in (None, key[0])]
        for key in doomed:
            del self._cache[key]
        return len(doomed)

    async def summarize(self, transcript: list[StoredMessage], view: HandoffView) -> Summary:
        generated = await self._generated(transcript, view.language)
        if generated:
            return Summary(generated, "llm")
        return Summary(extractive_summary(transcript, view), "extractive")

    async def _generated(self, transcript: list[StoredMessage], language: str) -> str | None:
        if self._llm is None or not transcript:
            return None
        key = (transcript[-1].conversation_id, transcript[-1].id)
        if key in self._cache:
            return self._cache[key]
        lines = [
            f"{_SPEAKERS.get(m.author, m.author)}: {redact(m.text)[:SUMMARY_LINE_CHARS]}"
            for m in transcript[-SUMMARY_MESSAGES:]
            if m.text
        ]
        try:
            text = await asyncio.to_thread(summarize_conversation, self._llm, lines, language)
        except Exception as exc:  # noqa: BLE001 - any failure of a remote model: extractive
            logger.warning("The LLM summary failed, the extractive one is shown: %r", exc)
            return None
        if not text:
            return None
        self._cache[key] = text
        while len(self._cache) > SUMMARIES_KEPT:
            self._cache.popitem(last=False)
        return text


def extractive_summary(transcript: list[StoredMessage], view: HandoffView) -> str:
    """Why the customer came, what upset them most, where it stands, and why it was handed over."""
    customer = [m for m in transcript if m.direction == "in"]
    if not customer:
        return ""
    zh = view.language == "zh"
    first, last = customer[0].text, customer[-1].text
    worst = min(customer, key=lambda m: m.sentiment if m.sentiment is not None else 0.0)
    parts = [("客户开始说：" if zh else "Customer opened with: ") + _clip(first)]
    if worst.sentiment is not None and worst.sentiment < -0.25 and worst.text not in (first, last):
        parts.append(("最不满的一句：" if zh else "Most upset: ") + _clip(worst.text))
    if last != first:
        parts.append(("最新消息：" if zh else "Latest: ") + _clip(last))
    reason = "转人工原因：" if zh else "Handoff reason: "
    parts.append(reason + view.reason + (f" ({view.intent})" if view.intent else ""))
    return "\n".join(parts)


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
