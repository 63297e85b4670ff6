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
        language = language_of(tracker)
        marker = {
            "reason": _reason(tracker),
            "intent": _topic(tracker),
            "language": language,
        }
        dispatcher.utter_message(response="utter_handoff", json_message={"handoff": marker})
        # Rasa stays silent for this conversation until the hub resumes it.
        return [ConversationPaused()]


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
