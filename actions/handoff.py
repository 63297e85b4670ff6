"""Hand the conversation to a human agent: the hub acts on the reply's ``handoff`` marker."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused
from rasa_sdk.executor import CollectingDispatcher

from actions._context import language_of

# Intents that say nothing about what the customer needs help with.
NOT_A_TOPIC = frozenset(
    {"request_human", "affirm", "deny", "inform", "stop", "greet", "thanks", "nlu_fallback"}
)


class ActionHandoff(Action):
    """Tells the customer a human takes over and marks the reply for the hub's handoff queue."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return hand_off(dispatcher, tracker, _reason(tracker))


class ActionFallbackGiveUp(Action):
    """The second fallback in a row, after the knowledge base had its try: when it found an
    answer, offer a human; when it had none either, the bot has failed the customer twice and
    hands the conversation to a human (the customer can still cancel while waiting)."""

    def name(self) -> str:
        return "action_fallback_give_up"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if knowledge_answered(tracker):
            dispatcher.utter_message(response="utter_fallback_offer_human")
            return []
        return hand_off(dispatcher, tracker, "repeated_fallback")


def hand_off(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str) -> list[Any]:
    """Tell the customer a human takes over, mark the reply for the hub, pause Rasa."""
    language = language_of(tracker)
    marker = {"reason": reason, "intent": _topic(tracker), "language": language}
    dispatcher.utter_message(response="utter_handoff", json_message={"handoff": marker})
    # Rasa stays silent for this conversation until the hub resumes it.
    return [ConversationPaused()]


def knowledge_answered(tracker: Tracker) -> bool:
    """Whether the knowledge base answered (did not abstain) in this turn."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "bot":
            custom = (event.get("data") or {}).get("custom") or {}
            knowledge = custom.get("knowledge") if isinstance(custom, dict) else None
            if isinstance(knowledge, dict):
                return knowledge.get("abstained") is False
    return False


def _topic(tracker: Tracker) -> str:
    """The latest intent that names what the customer needs (routes to the right skill)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            name = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if name and name not in NOT_A_TOPIC:
                return str(name)
    return "request_human"


def _reason(tracker: Tracker) -> str:
    """ "severe_complaint" when the customer takes the human offered after an angry complaint."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                break
            seen_user = True
        elif seen_user and event.get("event") == "action" and event.get("name") != "action_listen":
            severe = tracker.get_slot("complaint_severity") == "severe"
            if event.get("name") == "action_handle_complaint" and severe:
                return "severe_complaint"
            break
    return "customer_request"
