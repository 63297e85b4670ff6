"""Complaints, recommendations and the first stage of the two-stage fallback."""

from __future__ import annotations

import json
import logging
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions._context import (
    channel_of,
    customer_key_of,
    entity_values,
    language_of,
    order_request_task,
    order_service,
    recommendation_key_of,
    response_text,
    sentiment_of,
    services,
)
from actions.knowledge import ask, reply
from actions.tasks import finish_task
from actions.tickets import open_ticket, tell_opened
from bot.dialogue import means_any_budget, names_any_budget, other_requests
from bot.insights import reply_strategy
from bot.orders import CATEGORIES, Budget, parse_budget
from bot.privacy import PrivacyError
from bot.recommend import Event, Filters, InvalidEvent, Recommendation, RecommendError
from bot.storage import utcnow
from bot.tickets import TicketError
from knowledge import KnowledgeError

logger = logging.getLogger(__name__)

COMPLAINT_ECHO_CHARS = 60
FALLBACK_CHOICES = 2
NO_BUDGET = "any"
RECOMMENDATIONS = 3
# Channels that draw cards (the web-chat widget; each messaging app in its own format, see
# channels/connector/_cards.py); others (REST) get a text list.
CARD_CHANNELS = frozenset({"webchat", "telegram", "slack", "feishu", "wechat", "wecom", "dingtalk"})
# A card's feedback buttons: the widget reports each as a recommendation event of this kind.
FEEDBACK_BUTTONS = {
    "zh": (("click", "看看详情"), ("dismiss", "不感兴趣")),
    "en": (("click", "Details"), ("dismiss", "Not interested")),
}
# A card's "more like this": a message to the dialogue (the item in the ``similar_to`` entity).
SIMILAR_BUTTON = {"zh": "更多类似", "en": "More like this"}


class ActionHandleComplaint(Action):
    """Apologizes, opens a complaint ticket, offers a human when the customer is angry and
    reassures an anxious one with the concrete next step."""

    def name(self) -> str:
        return "action_handle_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = str((tracker.latest_message or {}).get("text") or "").strip()
        strategy = reply_strategy(sentiment_of(tracker))
        severity = "severe" if strategy == "apology_and_human" else "normal"
        echo = text if len(text) <= COMPLAINT_ECHO_CHARS else text[:COMPLAINT_ECHO_CHARS] + "…"
        dispatcher.utter_message(response="utter_complaint_ack", complaint=echo)
        # Every complaint becomes a ticket, so someone follows it up; an angry one is P1 by the
        # ticket priority rules.
        try:
            view = await open_ticket(tracker, category="complaint", description=text or echo)
        except TicketError:
            logger.exception("Could not open a complaint ticket for %s", tracker.sender_id)
        else:
            tell_opened(dispatcher, tracker, view)
        if strategy == "apology_and_human":
            dispatcher.utter_message(response="utter_complaint_offer_human")
        elif strategy == "reassurance_and_next_step":
            dispatcher.utter_message(response="utter_complaint_reassure")
        else:
            dispatcher.utter_message(response="utter_complaint_anything_else")
        return [SlotSet("complaint_text", text), SlotSet("complaint_severity", severity)]


class ValidateRecommendForm(FormValidationAction):
    """Keeps a product category the shop sells and a budget it can read."""

    def name(self) -> str:
        return "validate_recommend_form"

    async def validate_product_category(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        category = str(value[-1] if isinstance(value, list) else value)
        if category in CATEGORIES:
            return {"product_category": category}
        dispatcher.utter_message(response="utter_category_invalid")
        return {"product_category": None}

    async def extract_budget(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        # "预算不限", "多少钱都行", "no budget limit" answer the budget question with "any"; NLU
        # reads such answers as anything from `inform` to `stop`, so the words decide here. Any
        # other message of the form (the request itself: "推荐个耳机，预算不限") fills it only
        # when it names the budget: a bare "不限" may be about the category.
        if tracker.get_slot("budget"):
            return {}
        text = str((tracker.latest_message or {}).get("text") or "")
        if tracker.get_slot("requested_slot") == "budget":
            says_any = means_any_budget(text)
        else:
            says_any = names_any_budget(text)
        return {"budget": NO_BUDGET} if says_any else {}

    async def validate_budget(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        budget = str(value[-1] if isinstance(value, list) else value)
        if budget == NO_BUDGET or parse_budget(budget) is not None:
            return {"budget": budget}
        dispatcher.utter_message(response="utter_budget_invalid")
        return {"budget": None}


class ActionRecommend(Action):
    """Suggests products of the category within the budget, ranked for the customer by the
    recommendation service (personalised only with their recorded consent), each with its
    reason; cards in the web-chat widget and the messaging apps, a list elsewhere. Without a
    trained model it falls back to the catalogue filtered by the form."""

    def name(self) -> str:
        return "action_recommend"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        language = language_of(tracker)
        category = tracker.get_slot("product_category")
        category = category if category in CATEGORIES else None
        budget_text = tracker.get_slot("budget")
        budget = parse_budget(budget_text) if budget_text and budget_text != NO_BUDGET else None
        ranked = await _ranked(tracker, category, budget)
        if ranked is not None:
            _say_ranked(dispatcher, tracker, ranked, language)
        else:
            products = order_service().products(category, budget)
            if not products:
                dispatcher.utter_message(response="utter_no_recommendations")
            else:
                lines = "\n".join(f"• {p.name(language)} ¥{p.price}" for p in products)
                dispatcher.utter_message(response="utter_recommendations", products=lines)
        return [SlotSet("budget", None)] + await finish_task(
            dispatcher, tracker, domain, "recommend_form"
        )


async def _ranked(
    tracker: Tracker, category: str | None, budget: Budget | None
) -> list[Recommendation] | None:
    """The service's ranking for this customer; None when no model serves yet."""
    recommend, consents = services().recommend, services().consents
    if recommend is None:
        return None
    # The privacy key (the shop's id on REST, else channel:sender): consents, events and
    # erasure all name the customer by it.
    customer = customer_key_of(tracker)
    personalised = False
    if consents is not None:
        try:
            personalised = await consents.allows(customer, "personalisation", channel_of(tracker))
        except PrivacyError as exc:
            logger.warning("Consent not readable, ranking without personalisation: %s", exc)
    try:
        await recommend.refresh()  # a model retrained since the last request serves now
        # Keyed like the widget's card clicks and the tickets: the shop's id on REST, else
        # ``webchat:<session>``, so a "not interested" in the widget counts here.
        return await recommend.recommend(
            recommendation_key_of(tracker),
            k=RECOMMENDATIONS,
            filters=Filters(
                category=category,
                budget_low=budget.low if budget else None,
                budget_high=budget.high if budget else None,
            ),
            personalised=personalised,
        )
    except RecommendError as exc:
        logger.warning("Recommendations fall back to the catalogue filter: %s", exc)
        return None


def _say_ranked(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    ranked: list[Recommendation],
    language: str,
) -> None:
    if not ranked:
        dispatcher.utter_message(response="utter_no_recommendations")
        return
    lines = "\n".join(
        f"• {r.item.name(language)} ¥{r.item.price:g}: {r.reason.text(language)}" for r in ranked
    )
    if channel_of(tracker) not in CARD_CHANNELS:
        dispatcher.utter_message(response="utter_recommendations", products=lines)
        return
    cards = [
        {
            "title": f"{r.item.name(language)} ¥{r.item.price:g}",
            "subtitle": r.reason.text(language),
            **({"image_url": r.item.image} if r.item.image else {}),
            "details": _details(r, language),
            "buttons": [
                *(
                    {
                        "type": "recommendation_feedback",
                        "title": title,
                        "event": kind,
                        "item_id": r.item.id,
                    }
                    for kind, title in FEEDBACK_BUTTONS["zh" if language == "zh" else "en"]
                ),
                {
                    "type": "postback",
                    "title": SIMILAR_BUTTON["zh" if language == "zh" else "en"],
                    "payload": similar_payload(r.item.id),
                },
            ],
        }
        for r in ranked
    ]
    dispatcher.utter_message(
        response="utter_recommendations_cards",
        json_message={
            "attachment": {
                "type": "template",
                "payload": {"template_type": "generic", "elements": cards},
            }
        },
    )


def similar_payload(item_id: str) -> str:
    """The message a card's "more like this" sends: the recommendation intent, with the item."""
    return "/ask_recommendation" + json.dumps({"similar_to": item_id}, separators=(",", ":"))


class ActionRecommendSimilar(Action):
    """ "More like this" on a recommendation card: items similar to that one, in stock, without
    what the customer bought, returned or dismissed; the tap counts as interest in the item."""

    def name(self) -> str:
        return "action_recommend_similar"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        language = language_of(tracker)
        item_id = next(tracker.get_latest_entity_values("similar_to"), None)
        recommend = services().recommend
        if recommend is None or not isinstance(item_id, str):
            dispatcher.utter_message(response="utter_no_recommendations")
            return []
        customer = recommendation_key_of(tracker)
        try:
            await recommend.refresh()
            await recommend.record_event(
                Event(customer, item_id, "click", utcnow(), channel=channel_of(tracker))
            )
            ranked = await recommend.similar(item_id, k=RECOMMENDATIONS, user_id=customer)
        except (InvalidEvent, RecommendError) as exc:
            logger.info("No items like %r: %s", item_id[:64], exc)
            ranked = []
        _say_ranked(dispatcher, tracker, ranked, language)
        return []


def _details(ranked: Recommendation, language: str) -> str:
    """What the card's "Details" button shows: the item's description in the language."""
    item = ranked.item
    description = item.description_zh if language == "zh" else item.description_en
    return description or item.name(language)


class ActionFallbackSuggest(Action):
    """First fallback stage: the knowledge base's answer when it has a confident one (an unclear
    message is often a question NLU has no intent for), else the two likeliest intents as
    buttons."""

    def name(self) -> str:
        return "action_fallback_suggest"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        # A message that is mostly an order id, or names one with the task's words, is a request
        # about that order whatever NLU was unsure of ("订单YX…", "trak YX…"); the knowledge base
        # would answer it with some policy text instead.
        task = order_request_task(tracker)
        if task is not None:
            return [FollowupAction(task)]
        try:
            answer = await ask(tracker)
        except KnowledgeError:
            answer = None  # logged; the suggestions still help
        if answer is not None and not answer.abstained:
            dispatcher.utter_message(**reply(answer))
            return self._then_the_order(tracker)
        language = language_of(tracker)
        ranking = (tracker.latest_message or {}).get("intent_ranking") or []
        names = [r.get("name") for r in ranking if r.get("name") not in {None, "nlu_fallback"}]
        buttons = []
        for name in names[:FALLBACK_CHOICES]:
            try:
                title = response_text(domain, f"utter_topic_{name}", language)
            except KeyError:
                continue  # an intent without a customer-facing name is not worth offering
            buttons.append({"title": title, "payload": f"/{name}"})
        dispatcher.utter_message(response="utter_fallback_suggest", buttons=buttons)
        return []

    @staticmethod
    def _then_the_order(tracker: Tracker) -> list[dict[str, Any]]:
        """A message that asked a question and named an order among several requests (unclear
        to NLU as a whole): after the answer, the order is checked too."""
        text = str((tracker.latest_message or {}).get("text") or "")
        if tracker.active_loop or not entity_values(tracker, "order_id"):
            return []
        return [FollowupAction("order_status_form")] if other_requests(text) else []
