"""Leaving, switching and taking up tasks again; requests the shop cannot handle here; the
further requests of a message that asked for several things.

The rules in ``nlu_data/train/rules_tasks.yml`` call these when a form was rejected because the
customer's message answered none of its questions.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions._context import language_of, response_text
from actions.knowledge import ask, knowledge_base, reply
from bot.dialogue import (
    carries_on,
    clause_task,
    drops_current_task,
    is_question,
    other_requests,
)
from bot.language import Language
from bot.orders import order_ids_in, unsupported_service
from knowledge import Answer, KnowledgeError

logger = logging.getLogger(__name__)

# The form that serves each request intent.
FORM_OF_INTENT = {
    "check_order_status": "order_status_form",
    "request_return_refund": "return_form",
    "cancel_order": "cancel_form",
    "change_address": "address_form",
    "ask_recommendation": "recommend_form",
}
ORDER_FORMS = frozenset({"order_status_form", "return_form", "cancel_form", "address_form"})
# Slots of the order forms cleared when one is left; the order id stays (see actions/orders.py).
ANSWER_SLOTS = (
    "phone_last4",
    "return_reason",
    "return_confirmed",
    "cancel_confirmed",
    "new_address",
    "address_confirmed",
)
MAX_OTHER_REQUESTS = 2
# Actions that answer a message from the knowledge base before a form starts on it.
_ANSWERING_ACTIONS = frozenset({"action_answer_from_knowledge", "action_fallback_suggest"})


def _text(tracker: Tracker) -> str:
    return str((tracker.latest_message or {}).get("text") or "")


def _intent(tracker: Tracker) -> str:
    return str(((tracker.latest_message or {}).get("intent") or {}).get("name") or "")


def slot_before_latest_message(tracker: Tracker, slot: str) -> Any:
    """The slot's value before the customer's latest message filled anything."""
    latest_user = max(
        (i for i, e in enumerate(tracker.events) if e.get("event") == "user"), default=None
    )
    value = None
    for index, event in enumerate(tracker.events):
        if latest_user is not None and index >= latest_user:
            break
        if event.get("event") == "slot" and event.get("name") == slot:
            value = event.get("value")
    return value


def _paused(value: Any) -> tuple[str, str] | None:
    """(form, order id) of a ``paused_task`` or ``resume_offered`` value."""
    if not value or ":" not in str(value):
        return None
    form, order_id = str(value).split(":", 1)
    return (form, order_id) if form in ORDER_FORMS and order_id else None


def offer_paused_task(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    domain: dict[str, Any],
    finished_form: str | None,
) -> list[dict[str, Any]]:
    """When a task ends and another one was paused for it, ask whether to carry on with it."""
    paused = _paused(tracker.get_slot("paused_task"))
    if paused is None or paused[0] == finished_form:
        return [SlotSet("paused_task", None), SlotSet("resume_offered", None)]
    form, order_id = paused
    task = response_text(domain, f"utter_task_{form}", language_of(tracker))
    dispatcher.utter_message(response="utter_offer_resume", task=task, order_id=order_id)
    return [SlotSet("paused_task", None), SlotSet("resume_offered", f"{form}:{order_id}")]


def _activating_message(tracker: Tracker, form: str) -> str:
    """The text of the customer message that started ``form`` this time; empty when the
    knowledge base already answered that message (a question that also named an order)."""
    text, started_by, answered = "", "", False
    for event in tracker.events:
        if event.get("event") == "user":
            text, answered = str(event.get("text") or ""), False
        elif event.get("event") == "action" and event.get("name") in _ANSWERING_ACTIONS:
            answered = True
        elif event.get("event") == "active_loop" and event.get("name") == form:
            started_by = "" if answered else text
    return started_by


async def answer_other_requests(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], form: str
) -> None:
    """Answer the questions that the message which started ``form`` asked besides its request
    ("查一下订单…，顺便问下退货要几天"), from the knowledge base."""
    message = _activating_message(tracker, form)
    clauses = other_requests(message)
    questions = [c for c in clauses if is_question(c) and not order_ids_in(c)][:MAX_OTHER_REQUESTS]
    language = language_of(tracker)
    loop = asyncio.get_running_loop()
    for question in questions:
        try:
            answer: Answer = await loop.run_in_executor(
                None, knowledge_base().answer, question, language
            )
        except KnowledgeError:
            logger.warning("A further question of a message went unanswered: knowledge failed")
            continue
        if not answer.abstained:
            dispatcher.utter_message(**reply(answer))
        else:
            dispatcher.utter_message(response="utter_other_request_unanswered", question=question)
    offer_other_task(dispatcher, domain, language, form, clauses)


def offer_other_task(
    dispatcher: CollectingDispatcher,
    domain: dict[str, Any],
    language: Language,
    form: str,
    clauses: list[str],
) -> None:
    """Offer the first further request of the message that asks for another task ("查一下订单…，
    另外我想退货"): a button sends that request as the customer's next message, so it starts
    as if typed alone. Nothing starts unasked: the customer may have changed their mind."""
    for clause in clauses:
        task = clause_task(clause)
        if task is None or task == form or is_question(clause):
            continue
        text = response_text(domain, "utter_offer_other_request", language)
        button = response_text(domain, "utter_offer_other_request_button", language)
        dispatcher.utter_message(
            text=text.format(request=clause[:80]),
            buttons=[{"title": button, "payload": clause[:200]}],
        )
        return


async def finish_task(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], form: str
) -> list[dict[str, Any]]:
    """What every task does after its own reply: the message's other requests, then the paused
    task offered again."""
    await answer_other_requests(dispatcher, tracker, domain, form)
    return offer_paused_task(dispatcher, tracker, domain, form)


class ActionSwitchTask(Action):
    """Leaves the active form for the request the customer just made, pausing the left task when
    leaving would lose it (an order was being handled and the customer did not say "算了")."""

    def name(self) -> str:
        return "action_switch_task"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        left = (tracker.active_loop or {}).get("name")
        new_form = FORM_OF_INTENT.get(_intent(tracker))
        events: list[dict[str, Any]] = [ActiveLoop(None), SlotSet("requested_slot", None)]
        events += [SlotSet(slot, None) for slot in ANSWER_SLOTS]
        previous_order = slot_before_latest_message(tracker, "order_id")
        if left in ORDER_FORMS and previous_order and new_form is not None:
            task = response_text(domain, f"utter_task_{left}", language_of(tracker))
            if drops_current_task(_text(tracker)):
                dispatcher.utter_message(response="utter_task_dropped", task=task)
            else:
                dispatcher.utter_message(
                    response="utter_task_paused",
                    task=task,
                    order_id=previous_order,
                    new_task=response_text(
                        domain, f"utter_new_task_{new_form}", language_of(tracker)
                    ),
                )
                events.append(SlotSet("paused_task", f"{left}:{previous_order}"))
        if new_form is not None:
            events.append(FollowupAction(new_form))
        return events


class ActionResumeTask(Action):
    """The customer's answer to "carry on with the paused task?": start it again, or leave it."""

    def name(self) -> str:
        return "action_resume_task"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        paused = _paused(tracker.get_slot("resume_offered"))
        events: list[dict[str, Any]] = [SlotSet("resume_offered", None)]
        # "继续" alone is short enough for NLU to read as a stop ("不用继续了"): the words decide.
        resume = _intent(tracker) == "affirm" or carries_on(_text(tracker))
        if paused is None or not resume:
            dispatcher.utter_message(response="utter_resume_declined")
            return events
        form, order_id = paused
        return [*events, SlotSet("order_id", order_id), FollowupAction(form)]


class ActionUnsupportedRequest(Action):
    """Says clearly that the request cannot be handled here, then the next step: the knowledge
    base's answer when it has one (it often says how to do it elsewhere), else a human."""

    def name(self) -> str:
        return "action_unsupported_request"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(
            response=f"utter_unsupported_{unsupported_service(_text(tracker))}"
        )
        try:
            answer = await ask(tracker)
        except KnowledgeError:
            answer = None  # logged by ask(); the human offer still helps
        if answer is not None and not answer.abstained:
            dispatcher.utter_message(**reply(answer))
        elif answer is not None:
            # Marked as the knowledge base's abstention, so the question joins the gaps report
            # (python -m bot kb unanswered): the shop may want an FAQ entry for it.
            marker = reply(answer)["json_message"]
            dispatcher.utter_message(response="utter_unsupported_next_step", json_message=marker)
        else:
            dispatcher.utter_message(response="utter_unsupported_next_step")
        return []
