"""What an agent needs to take over: transcript, NLU state, sentiment, orders, sources, summary,
and the customer's conversations in their other apps."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from bot.conversations import StoredMessage, Summary
from bot.dialogue import DialogueUnavailable
from bot.handoff import HandoffView
from channels.console._services import ConsoleServices

logger = logging.getLogger(__name__)

CANNED_REPLIES = Path(__file__).with_name("canned_replies.yml")
# Rasa's bookkeeping, of no use to an agent.
_INTERNAL_SLOTS = frozenset({"session_started_metadata", "requested_slot"})

# What other modules can add (wired by the hub): the customer's orders (channel, sender, order ids
# the conversation named, language), reply suggestions (question, language).
OrdersLookup = Callable[[str, str, list[str], str], Awaitable[list[dict[str, Any]]]]
Suggester = Callable[[str, str], Awaitable[list[dict[str, Any]]]]
# The customer's latest churn risk and its top reasons in the agent's language (channel, sender,
# language), None when the customer is unknown or was never scored.
ChurnLookup = Callable[[str, str, str], Awaitable[dict[str, Any] | None]]
# The same customer's conversations in other apps, linked by a verified phone (channel, sender).
LinkedLookup = Callable[[str, str], Awaitable[list[dict[str, Any]]]]
# The agent's briefing on a conversation (the conversations module's one summary path).
Summarize = Callable[[list[StoredMessage], HandoffView], Awaitable[Summary]]


class ContextBuilder:
    """Builds the context panel of a handed-off conversation."""

    def __init__(
        self,
        hub: ConsoleServices,
        *,
        summarize: Summarize,
        orders: OrdersLookup | None = None,
        suggest: Suggester | None = None,
        churn: ChurnLookup | None = None,
        linked: LinkedLookup | None = None,
        canned_path: Path = CANNED_REPLIES,
    ) -> None:
        self._hub = hub
        self._linked = linked
        self._orders = orders
        self._churn = churn
        self._suggest = suggest
        self._summarize = summarize
        self._canned: dict[str, list[dict[str, str]]] = yaml.load(
            canned_path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader
        )

    def canned_replies(self, language: str) -> list[dict[str, str]]:
        return list(self._canned.get(language, []))

    async def build(self, view: HandoffView) -> dict[str, Any]:
        transcript = await self._hub.conversations.history(view.conversation_id, limit=200)
        customer = [m for m in transcript if m.direction == "in"]
        last_question = customer[-1].text if customer else ""
        nlu = await self._nlu(view.conversation_id)
        summary = await self._summarize(transcript, view)
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
            "summary": summary.text,
            "summary_kind": summary.kind,
            "suggestions": await self._suggestions(last_question, view.language),
            "notes": await self._hub.handoffs.notes(view.conversation_id),
            "churn": await self._churn_of(view),
            "linked_conversations": await self._linked_of(view),
        }

    async def _nlu(self, conversation_id: str) -> dict[str, Any]:
        try:
            tracker = await self._hub.tracker(conversation_id)
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

    async def _churn_of(self, view: HandoffView) -> dict[str, Any] | None:
        if self._churn is None:
            return None
        sender = await self._hub.conversations.sender_of(view.conversation_id)
        try:
            return await self._churn(view.channel, sender, view.language)
        except Exception:
            logger.exception("Churn score of conversation %s failed", view.conversation_id)
            return None

    async def _linked_of(self, view: HandoffView) -> list[dict[str, Any]]:
        """The customer's conversations in their other apps (linked by a verified phone)."""
        if self._linked is None:
            return []
        sender = await self._hub.conversations.sender_of(view.conversation_id)
        try:
            return await self._linked(view.channel, sender)
        except Exception:
            logger.exception("Linked conversations of %s failed", view.conversation_id)
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
