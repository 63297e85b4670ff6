"""Answer from the knowledge base, in the customer's language, with citations; offer a human when
the knowledge base does not know.

When it does not know, it offers a human and a ticket (for when no agent is free, or the
customer would rather be answered later). The question's language is the hub's (the
``language`` slot, set from the message's metadata); the knowledge base does not guess it again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions._context import order_request_task, services
from knowledge import Answer, KnowledgeBase, KnowledgeError

logger = logging.getLogger(__name__)

# Payloads of the buttons offered when the knowledge base abstains; the dialogue routes them.
REQUEST_HUMAN = "/request_human"
OPEN_TICKET = "/open_ticket"

_TEXTS = {
    "zh": {
        "sources": "参考资料：",
        "human": "转人工客服",
        "ticket": "创建工单",
        "related": "您可能还想问：",
        "suggested": "您是不是想问：",
    },
    "en": {
        "sources": "Sources:",
        "human": "Talk to a human",
        "ticket": "Open a ticket",
        "related": "You may also ask:",
        "suggested": "Did you mean:",
    },
}
_UNAVAILABLE = {
    "zh": "抱歉，知识库暂时无法使用。我可以为您转接人工客服。",
    "en": "Sorry, the knowledge base is unavailable right now. "
    "I can connect you with a human agent.",
}


def knowledge_base() -> KnowledgeBase:
    """The knowledge base of this action-server process, opened on first use."""
    return services().knowledge()


def _warm_up() -> None:
    """Open the index and load the models before the first question needs them."""
    try:
        knowledge_base().answer("你好", "zh")
    except KnowledgeError as exc:
        logger.warning("The knowledge base could not be opened yet: %s", exc)


class ActionAnswerFromKnowledge(Action):
    """Answers the customer's latest message from the knowledge base."""

    def __init__(self) -> None:
        # rasa-sdk builds each action once when the server starts; loading in the background
        # keeps the server's start (and its health check) fast.
        threading.Thread(target=_warm_up, name="knowledge-warm-up", daemon=True).start()

    def name(self) -> str:
        return "action_answer_from_knowledge"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        # The second fallback stage (after "did you mean…?") runs this for a message NLU could
        # not read: one that names an order with little else ("YX2611010001") asks for that
        # order, as it does at the first stage (ActionFallbackSuggest), not for a policy text
        # and a human.
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        task = order_request_task(tracker) if intent == "nlu_fallback" else None
        if task is not None:
            return [FollowupAction(task)]
        language = "zh" if tracker.get_slot("language") == "zh" else "en"
        try:
            answer = await ask(tracker)
        except KnowledgeError:
            dispatcher.utter_message(text=_UNAVAILABLE[language], buttons=_offer(language))
            return []
        if answer is not None:
            dispatcher.utter_message(**reply(answer))
        return []


async def ask(tracker: Tracker) -> Answer | None:
    """The knowledge base's answer to the customer's latest message, None for a button's
    command; raises ``KnowledgeError`` (logged) when the knowledge base cannot answer at all."""
    language = "zh" if tracker.get_slot("language") == "zh" else "en"
    question = str((tracker.latest_message or {}).get("text") or "").strip()
    if not question or question.startswith("/"):
        return None
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(None, _answer, question, language)
    except KnowledgeError as exc:
        logger.error("Knowledge base failed: %s", exc)
        raise


def _answer(question: str, language: str) -> Answer:
    return knowledge_base().answer(question, language)


def reply(answer: Answer) -> dict[str, Any]:
    """The bot message for an answer: text with numbered sources, related FAQ questions as buttons
    that ask them, and the citations as data for the agent console; an abstention offers a human
    instead."""
    texts = _TEXTS[answer.language]
    lines = [answer.answer]
    if answer.citations:
        lines.append("")
        lines.append(texts["sources"])
        for citation in answer.citations:
            label = " › ".join(p for p in (citation.title, citation.section) if p)
            lines.append(
                f"[{citation.n}] [{label}]({citation.url})"
                if citation.url
                else f"[{citation.n}] {label}"
            )
    if answer.related:
        lines.append("")
        lines.append(texts["suggested" if answer.abstained else "related"])
    message: dict[str, Any] = {
        "text": "\n".join(lines),
        "json_message": {
            "citations": [c.to_dict() for c in answer.citations],
            "knowledge": {
                "kind": answer.kind,
                "abstained": answer.abstained,
                "confidence": answer.confidence,
                "related": [r.to_dict() for r in answer.related],
            },
        },
    }
    # The question itself is the payload: tapping it asks it, as if typed.
    asked = [{"title": r.question, "payload": r.question} for r in answer.related]
    # An abstention offers the entries it came close to ("did you mean…?"), then a human.
    message["buttons"] = [*asked, *_offer(answer.language)] if answer.abstained else asked
    if not message["buttons"]:
        del message["buttons"]
    return message


def _offer(language: str) -> list[dict[str, str]]:
    texts = _TEXTS[language]
    return [
        {"title": texts["human"], "payload": REQUEST_HUMAN},
        {"title": texts["ticket"], "payload": OPEN_TICKET},
    ]
