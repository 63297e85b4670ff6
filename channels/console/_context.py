"""What an agent needs to take over: transcript, NLU state, sentiment, orders, sources, summary."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from bot.conversations import StoredMessage
from bot.dialogue import DialogueUnavailable
from bot.handoff import HandoffView
from bot.services import HubServices

logger = logging.getLogger(__name__)

CANNED_REPLIES = Path(__file__).with_name("canned_replies.yml")
# Rasa's bookkeeping, of no use to an agent.
_INTERNAL_SLOTS = frozenset({"session_started_metadata", "requested_slot"})

# What other modules can add (wired by the hub): the customer's orders (channel, sender, order ids
# the conversation named, language), reply suggestions (question, language).
OrdersLookup = Callable[[str, str, list[str], str], Awaitable[list[dict[str, Any]]]]
Suggester = Callable[[str, str], Awaitable[list[dict[str, Any]]]]
# A generated summary (transcript, language), or None for the extractive one.
Summarizer = Callable[[list[StoredMessage], str], Awaitable[str | None]]


class ContextBuilder:
    """Builds the context panel of a handed-off conversation."""

    def __init__(
        self,
        hub: HubServices,
        orders: OrdersLookup | None = None,
        suggest: Suggester | None = None,
        summarize_with: Summarizer | None = None,
        canned_path: Path = CANNED_REPLIES,
    ) -> None:
        self._hub = hub
        self._orders = orders
        self._suggest = suggest
        self._summarize = summarize_with
        self._canned: dict[str, list[dict[str, str]]] = yaml.safe_load(
            canned_path.read_text(encoding="utf-8")
        )

    def canned_replies(self, language: str) -> list[dict[str, str]]:
        return list(self._canned.get(language, []))

    async def build(self, view: HandoffView) -> dict[str, Any]:
        transcript = await self._hub.conversations.history(view.conversation_id, limit=200)
        customer = [m for m in transcript if m.direction == "in"]
        last_question = customer[-1].text if customer else ""
        nlu = await self._nlu(view.conversation_id)
        generated = await self._summarize(transcript, view.language) if self._summarize else None
        return {
            "transcript": [m.as_json() for m in transcript],
            "nlu": nlu,
            "sentiment": [
                {"message_id": m.id, "score": m.sentiment, "at": m.created_at.isoformat()}
                for m in customer
                if m.sentiment is not None
            ],
            "orders": await self._orders_of(view, _mentioned_orders(nlu)),
            "sources": _sources(transcript),
            "summary": generated or summarize(transcript, view),
            "summary_kind": "llm" if generated else "extractive",
            "suggestions": await self._suggestions(last_question, view.language),
            "notes": await self._hub.handoffs.notes(view.conversation_id),
        }

    async def _nlu(self, conversation_id: str) -> dict[str, Any]:
        try:
            tracker = await self._hub.dialogue.tracker(conversation_id)
        except DialogueUnavailable:
            return {"available": False}
        latest = tracker.get("latest_message") or {}
        slots = {
            k: v
            for k, v in (tracker.get("slots") or {}).items()
            if v is not None and k not in _INTERNAL_SLOTS
        }
        return {
            "available": True,
            "intent": (latest.get("intent") or {}).get("name"),
            "confidence": (latest.get("intent") or {}).get("confidence"),
            "entities": [
                {"entity": e.get("entity"), "value": e.get("value")}
                for e in latest.get("entities") or []
                if e.get("entity") != "language"
            ],
            "slots": slots,
            "paused": tracker.get("paused", False),
        }

    async def _orders_of(self, view: HandoffView, mentioned: list[str]) -> list[dict[str, Any]]:
        if self._orders is None:
            return []
        sender = await self._hub.conversations.sender_of(view.conversation_id)
        try:
            return await self._orders(view.channel, sender, mentioned, view.language)
        except Exception:
            logger.exception(
                "Looking up the orders of conversation %s failed", view.conversation_id
            )
            return []

    async def _suggestions(self, question: str, language: str) -> list[dict[str, Any]]:
        if self._suggest is None or not question:
            return []
        try:
            return await self._suggest(question, language)
        except Exception:
            logger.exception("Reply suggestions failed")
            return []


def _mentioned_orders(nlu: dict[str, Any]) -> list[str]:
    """Order ids in the dialogue state: the remembered slot first, then the latest message's."""
    ids = [str((nlu.get("slots") or {}).get("order_id") or "")]
    ids += [str(e["value"]) for e in nlu.get("entities") or [] if e.get("entity") == "order_id"]
    return list(dict.fromkeys(i for i in ids if i))


def _sources(transcript: list[StoredMessage]) -> list[dict[str, Any]]:
    """Knowledge passages the bot cited in its answers (from the replies' payloads)."""
    found: list[dict[str, Any]] = []
    for message in transcript:
        custom = (message.payload or {}).get("custom") or {}
        for citation in custom.get("citations") or []:
            if isinstance(citation, dict) and citation not in found:
                found.append(citation)
    return found


def summarize(transcript: list[StoredMessage], view: HandoffView) -> str:
    """An extractive summary: why the customer came, what went wrong, where it stands."""
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
    reason = {"zh": "转人工原因：", "en": "Handoff reason: "}["zh" if zh else "en"]
    parts.append(reason + view.reason + (f" ({view.intent})" if view.intent else ""))
    return "\n".join(parts)


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
