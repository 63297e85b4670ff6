"""Custom actions run directly with rasa-sdk's tracker and dispatcher, on a real order store."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import ActionServices
from actions.handoff import ActionFallbackGiveUp, ActionHandoff
from actions.orders import (
    CONFIRMATION_FLOOR,
    ActionOrderIdGiven,
    ValidateAddressForm,
    ValidateCancelForm,
    ValidateReturnForm,
)
from actions.service import ActionHandleComplaint
from bot.insights import Sentiment, SentimentAnalyzer
from bot.tickets import TicketQuery

DOMAIN_SLOTS = ["order_id", "phone_last4", "return_reason", "return_confirmed"]


@pytest.fixture(autouse=True)
def order_store(action_services: ActionServices) -> ActionServices:
    return action_services  # the services the wiring gives the action server


def user(
    intent: str, text: str = "", confidence: float | None = None, **metadata: Any
) -> dict[str, Any]:
    parsed: dict[str, Any] = {"name": intent}
    if confidence is not None:
        parsed["confidence"] = confidence
    return {
        "event": "user",
        "text": text,
        "parse_data": {"intent": parsed, "entities": [], "text": text},
        "metadata": metadata,
    }


def tracker(
    events: list[dict[str, Any]],
    slots: dict[str, Any] | None = None,
    customer: str = "",
    sentiment: Sentiment | None = None,
) -> Tracker:
    said = [e for e in events if e["event"] == "user"]
    latest = dict(said[-1]["parse_data"]) if said else {}
    latest["metadata"] = {"customer_id": customer} if customer else {}
    if sentiment is not None:  # as the hub sends it
        latest["metadata"]["sentiment"] = sentiment.to_metadata()
    return Tracker(
        "conversation-1",
        {"language": "zh", **(slots or {})},
        latest,
        events,
        False,
        None,
        {},
        None,
    )


async def test_handoff_marks_the_reply_and_pauses_rasa() -> None:
    dispatcher = CollectingDispatcher()
    events = [
        user("check_order_status", "我的订单到哪了"),
        {"event": "action", "name": "order_status_form"},
        user("request_human", "转人工"),
    ]
    result = await ActionHandoff().run(dispatcher, tracker(events), {})
    assert result == [{"event": "pause", "timestamp": None}]
    (message,) = dispatcher.messages
    assert message["response"] == "utter_handoff"
    assert message["custom"] == {
        "handoff": {"reason": "customer_request", "intent": "check_order_status", "language": "zh"}
    }


async def test_taking_the_human_offered_after_an_angry_complaint() -> None:
    dispatcher = CollectingDispatcher()
    events = [
        user("complain", "我要去12315投诉你们"),
        {"event": "action", "name": "action_handle_complaint"},
        {"event": "action", "name": "action_listen"},
        user("affirm", "好的"),
    ]
    await ActionHandoff().run(dispatcher, tracker(events, {"complaint_severity": "severe"}), {})
    assert dispatcher.messages[0]["custom"]["handoff"] == {
        "reason": "severe_complaint",
        "intent": "complain",
        "language": "zh",
    }


def knowledge_reply(abstained: bool) -> dict[str, Any]:
    custom = {"citations": [], "knowledge": {"kind": "faq", "abstained": abstained}}
    return {"event": "bot", "text": "…", "data": {"custom": custom}}


@pytest.mark.parametrize(
    ("knowledge", "expected"),
    [
        (knowledge_reply(abstained=False), "offer"),
        (knowledge_reply(abstained=True), "handoff"),
        ({"event": "bot", "text": "知识库暂不可用", "data": {}}, "handoff"),
    ],
)
async def test_second_fallback_offers_a_human_or_hands_over(
    knowledge: dict[str, Any], expected: str
) -> None:
    events = [
        user("nlu_fallback", "blorp"),
        {"event": "action", "name": "action_fallback_suggest"},
        {"event": "action", "name": "action_listen"},
        user("nlu_fallback", "snarf"),
        {"event": "action", "name": "action_answer_from_knowledge"},
        knowledge,
    ]
    dispatcher = CollectingDispatcher()
    result = await ActionFallbackGiveUp().run(dispatcher, tracker(events), {})
    (message,) = dispatcher.messages
    if expected == "offer":
        assert (message["response"], result) == ("utter_fallback_offer_human", [])
    else:
        assert message["response"] == "utter_handoff"
        assert message["custom"]["handoff"]["reason"] == "repeated_fallback"
        assert result == [{"event": "pause", "timestamp": None}]


@pytest.mark.parametrize(
    ("text", "severity", "follow_up", "priority"),
    [
        ("快递有点慢", "normal", "utter_complaint_anything_else", "P2"),
        ("快递太慢了", "normal", "utter_complaint_anything_else", "P1"),  # negative: a step up
        ("我要去12315投诉你们，垃圾商家", "severe", "utter_complaint_offer_human", "P1"),
    ],
)
async def test_complaints_become_tickets_and_angry_ones_offer_a_human(
    text: str, severity: str, follow_up: str, priority: str, action_services: ActionServices
) -> None:
    dispatcher = CollectingDispatcher()
    scored = SentimentAnalyzer().analyze(text, "zh")
    complaint = tracker([user("complain", text)], sentiment=scored)
    result = await ActionHandleComplaint().run(dispatcher, complaint, {})
    assert result == [
        {"event": "slot", "name": "complaint_text", "value": text, "timestamp": None},
        {"event": "slot", "name": "complaint_severity", "value": severity, "timestamp": None},
    ]
    assert [m["response"] for m in dispatcher.messages] == [
        "utter_complaint_ack",
        "utter_ticket_opened",
        follow_up,
    ]
    page = await action_services.tickets.list_tickets(TicketQuery())
    (ticket,) = page.items
    told = dispatcher.messages[1]
    assert (told["number"], told["priority"]) == (ticket.number, priority)
    assert (ticket.category, ticket.priority, ticket.description) == ("complaint", priority, text)
    assert (ticket.conversation_id, ticket.customer_id) == ("conversation-1", "rasa:conversation-1")


@pytest.mark.parametrize(
    ("order_id", "customer", "slots", "required"),
    [
        (None, "customer-001", {}, ["order_id", "return_reason", "return_confirmed"]),
        # Someone else's order: the phone digits come before anything about it is said.
        ("YX2611010001", "customer-099", {}, DOMAIN_SLOTS),
        ("YX2611010001", "customer-001", {}, ["order_id", "return_reason", "return_confirmed"]),
        # Verified earlier in the conversation: no second check.
        (
            "YX2611010001",
            "customer-099",
            {"verified_orders": ["YX2611010001"]},
            ["order_id", "return_reason", "return_confirmed"],
        ),
        # Delivered 16 days ago: the form ends so the submit action can say why.
        ("YX2611010041", "customer-001", {}, ["order_id"]),
        # Delivered 10 days ago: only a quality problem can still be returned.
        (
            "YX2611010005",
            "customer-001",
            {"return_reason": "不想要了"},
            ["order_id", "return_reason"],
        ),
        (
            "YX2611010005",
            "customer-001",
            {"return_reason": "屏幕坏了"},
            ["order_id", "return_reason", "return_confirmed"],
        ),
    ],
)
async def test_return_form_asks_what_the_order_allows(
    order_id: str | None, customer: str, slots: dict[str, Any], required: list[str]
) -> None:
    state = tracker([user("inform")], {"order_id": order_id, **slots}, customer=customer)
    asked = await ValidateReturnForm().required_slots(
        DOMAIN_SLOTS, CollectingDispatcher(), state, {}
    )
    assert asked == required


@pytest.mark.parametrize(
    ("given", "response", "slots"),
    [
        ("yx 2611 010 003", None, {"order_id": "YX2611010003", "phone_last4": None}),
        ("YX123", "utter_order_id_invalid", {"order_id": None}),
        # No such order: held like someone else's, so the next step (the phone digits) is the
        # same and the reply does not tell which ids exist.
        ("YX2699999999", None, {"order_id": "YX2699999999", "phone_last4": None}),
    ],
)
async def test_order_ids_are_validated_with_friendly_re_asks(
    given: str, response: str | None, slots: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    state = tracker([user("inform", given)], customer="customer-001")
    result = await ValidateCancelForm().validate_order_id(given, dispatcher, state, {})
    assert result == slots
    assert [m["response"] for m in dispatcher.messages] == ([response] if response else [])


@pytest.mark.parametrize(
    ("intent", "text", "confidence", "value", "kept"),
    [
        ("affirm", "确认取消", 0.97, True, True),
        ("affirm", "yes", CONFIRMATION_FLOOR, True, True),
        # Noise that the classifier took for a "yes" does not cancel an order: asked again.
        ("affirm", "啊啊啊啊啊", 0.51, True, None),
        ("affirm", "hmm", None, True, None),  # no confidence given: not a sure "yes" either
        ("deny", "算了吧", 0.4, False, False),  # a "no" changes nothing: taken as it comes
    ],
)
async def test_a_change_needs_a_sure_yes(
    intent: str, text: str, confidence: float | None, value: bool, kept: bool | None
) -> None:
    slots = {"order_id": "YX2611010001", "phone_last4": "0001"}
    state = tracker([user(intent, text, confidence)], slots, customer="customer-001")
    dispatcher = CollectingDispatcher()
    validations = [
        (ValidateCancelForm().validate_cancel_confirmed, "cancel_confirmed"),
        (ValidateReturnForm().validate_return_confirmed, "return_confirmed"),
        (ValidateAddressForm().validate_address_confirmed, "address_confirmed"),
    ]
    for validate, slot in validations:
        assert await validate(value, dispatcher, state, {}) == {slot: kept}


@pytest.mark.parametrize(
    ("text", "task"),
    [
        ("YX2611010001", "order_status_form"),
        ("订单YX2611010001", "order_status_form"),
        # NLU said `inform` (0.59) over `change_address` (0.40): the words name the task.
        ("YX2611010025改地址到广州市天河区体育西路1号", "address_form"),
        ("YX2611010001 cancel it", "cancel_form"),
        ("YX2611010001怎么还没发货？", "order_status_form"),  # a question: the status, as before
        ("YX2611010001 和 YX2611010002", "order_status_form"),  # two ids: no guess
    ],
)
async def test_an_order_id_given_starts_the_task_its_words_name(text: str, task: str) -> None:
    events = await ActionOrderIdGiven().run(
        CollectingDispatcher(), tracker([user("inform", text)]), {}
    )
    assert events == [{"event": "followup", "timestamp": None, "name": task}]
