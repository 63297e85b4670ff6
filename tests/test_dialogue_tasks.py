"""Leaving and resuming tasks, the phone check's attempts and take-backs: the actions run directly
with rasa-sdk's tracker and dispatcher on a real order store; the message-shape helpers."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import ActionServices
from actions.orders import (
    ActionFormStopped,
    ActionOrderStatus,
    ValidateCancelForm,
    ValidateReturnForm,
)
from actions.tasks import ActionResumeTask, ActionSwitchTask, offer_other_task
from bot.dialogue import (
    carries_on,
    clause_task,
    drops_current_task,
    is_question,
    other_requests,
)

ORDER = "YX2611010005"  # customer-001's; phone ends 6633
RETURN_SLOTS = ["order_id", "phone_last4", "return_reason", "return_confirmed"]
CANCEL_SLOTS = ["order_id", "phone_last4", "cancel_confirmed"]
DOMAIN = {
    "responses": {
        name: [
            {
                "text": f"{name} zh",
                "condition": [{"type": "slot", "name": "language", "value": "zh"}],
            },
            {"text": f"{name} en"},
        ]
        for name in (
            "utter_task_return_form",
            "utter_new_task_recommend_form",
        )
    }
}


@pytest.fixture(autouse=True)
def order_store(action_services: ActionServices) -> ActionServices:
    return action_services  # the services the wiring gives the action server


def user(intent: str, text: str, entities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "parse_data": {"intent": {"name": intent}, "entities": entities or [], "text": text},
        "metadata": {},
    }


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value}


def tracker(
    events: list[dict[str, Any]], slots: dict[str, Any], loop: str | None = None
) -> Tracker:
    said = [e for e in events if e["event"] == "user"]
    latest = {**said[-1]["parse_data"], "metadata": {}}
    return Tracker(
        "visitor",
        {"language": "zh", **slots},
        latest,
        events,
        False,
        None,
        {"name": loop} if loop else {},
        None,
    )


@pytest.mark.parametrize(
    ("text", "extracted"),
    [
        ("6633", {"phone_last4": "6633"}),
        ("尾号是0000", {"phone_last4": "0000"}),
        ("算了，帮我推荐个耳机吧", {}),
        ("预算300左右", {}),
        ("能退货吗", {}),
    ],
)
async def test_only_digit_answers_fill_the_phone_slot(text: str, extracted: dict[str, Any]) -> None:
    state = tracker([user("inform", text)], {"order_id": ORDER, "requested_slot": "phone_last4"})
    found = await ValidateReturnForm().extract_phone_last4(CollectingDispatcher(), state, {})
    assert found == extracted


async def test_a_message_already_answered_is_not_read_again_as_digits() -> None:
    events = [user("inform", "6633"), {"event": "bot", "text": "a knowledge answer"}]
    state = tracker(events, {"order_id": ORDER, "requested_slot": "phone_last4"})
    assert await ValidateReturnForm().extract_phone_last4(CollectingDispatcher(), state, {}) == {}


async def test_wrong_digits_are_counted_per_order_and_end_in_a_human_offer(
    order_store: ActionServices,
) -> None:
    form, attempts = ValidateReturnForm(), None
    said: list[list[str]] = []
    for _ in range(3):
        dispatcher = CollectingDispatcher()
        state = tracker(
            [user("inform", "0000")],
            {"order_id": ORDER, "requested_slot": "phone_last4", "phone_attempts": attempts},
        )
        result = await form.validate_phone_last4("0000", dispatcher, state, {})
        attempts = result["phone_attempts"]
        assert result["phone_last4"] is None
        said.append([m["response"] for m in dispatcher.messages])
    assert attempts == {ORDER: 3}
    assert said == [["utter_phone_mismatch"], ["utter_phone_mismatch"], []]
    records = await order_store.audit.list(actor_kind="customer")  # type: ignore[union-attr]
    assert [(r.action, r.reason) for r in records] == [
        ("order.verify_failed", f"wrong phone digits for {ORDER}")
    ] * 3
    state = tracker([user("inform", "0000")], {"order_id": ORDER, "phone_attempts": attempts})
    dispatcher = CollectingDispatcher()
    assert await form.required_slots(RETURN_SLOTS, dispatcher, state, {}) == ["order_id"]
    await ActionOrderStatus().run(dispatcher, state, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_phone_attempts_exhausted"]


async def test_new_conversations_do_not_reset_an_orders_daily_limit(
    order_store: ActionServices,
) -> None:
    """Someone who opens a new chat after each stop (a fresh ``phone_attempts`` slot) to go on
    guessing one order's phone ending is stopped at five tries a day, in every conversation; the
    customer's own order and any other order are still checked as before."""
    form = ValidateCancelForm()

    async def wrong_digits(attempts: dict[str, int] | None) -> tuple[list[str], dict[str, int]]:
        dispatcher = CollectingDispatcher()
        state = tracker(
            [user("inform", "0000")],
            {"order_id": ORDER, "requested_slot": "phone_last4", "phone_attempts": attempts},
        )
        result = await form.validate_phone_last4("0000", dispatcher, state, {})
        return [m["response"] for m in dispatcher.messages], result["phone_attempts"]

    first: dict[str, int] | None = None
    for _ in range(3):
        said, first = await wrong_digits(first)
    assert first == {ORDER: 3}  # the first conversation's own limit
    second: dict[str, int] | None = None
    told = []
    for _ in range(2):
        said, second = await wrong_digits(second)
        told.append(said)
    # The fifth wrong ending of the day, in the second conversation, ends the check there.
    assert told == [["utter_phone_mismatch"], []]
    assert second == {ORDER: 2}

    # A third conversation is not asked for digits at all and is offered a human.
    third = tracker([user("inform", ORDER)], {"order_id": ORDER})
    dispatcher = CollectingDispatcher()
    assert await form.required_slots(CANCEL_SLOTS, dispatcher, third, {}) == ["order_id"]
    await ActionOrderStatus().run(dispatcher, third, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_phone_attempts_exhausted"]
    records = await order_store.audit.list(action="order.verify_failed")  # type: ignore[union-attr]
    assert len(records) == 5

    # Another order is checked as usual, and the owner is served through the channel's word.
    other = tracker([user("inform", "YX2611010013")], {"order_id": "YX2611010013"})
    assert await form.required_slots(CANCEL_SLOTS, CollectingDispatcher(), other, {}) == [
        "order_id",
        "phone_last4",
        "cancel_confirmed",
    ]
    owner = tracker([user("inform", ORDER)], {"order_id": ORDER})
    owner.latest_message["metadata"] = {"customer_id": "customer-001"}
    asked = await form.required_slots(CANCEL_SLOTS, CollectingDispatcher(), owner, {})
    assert asked[0] == "order_id"
    assert "phone_last4" not in asked
    dispatcher = CollectingDispatcher()
    await ActionOrderStatus().run(dispatcher, owner, {})
    (status,) = [m["response"] for m in dispatcher.messages]
    assert status.startswith("utter_order_status_")


async def test_the_right_digits_verify_the_order() -> None:
    dispatcher = CollectingDispatcher()
    state = tracker([user("inform", "6633")], {"order_id": ORDER, "requested_slot": "phone_last4"})
    result = await ValidateReturnForm().validate_phone_last4("6633", dispatcher, state, {})
    assert result == {"phone_last4": "verified", "verified_orders": [ORDER]}
    assert [m["response"] for m in dispatcher.messages] == ["utter_phone_verified"]


async def test_wrong_order_at_the_confirmation_forgets_the_order() -> None:
    state = tracker(
        [user("deny", "wait, wrong order")],
        {"order_id": "YX2611010013", "requested_slot": "cancel_confirmed"},
    )
    events = await ValidateCancelForm().get_extraction_events(CollectingDispatcher(), state, {})
    assert SlotSet("order_id", None) in events
    assert SlotSet("cancel_confirmed", None) in events


@pytest.mark.parametrize(
    ("text", "said", "paused"),
    [
        ("推荐个两千以内的手机", "utter_task_paused", f"return_form:{ORDER}"),
        ("算了，帮我推荐个耳机吧", "utter_task_dropped", None),
    ],
)
async def test_switching_pauses_the_task_unless_the_customer_drops_it(
    text: str, said: str, paused: str | None
) -> None:
    events = [slot("order_id", ORDER), user("ask_recommendation", text)]
    state = tracker(events, {"order_id": ORDER, "requested_slot": "phone_last4"}, "return_form")
    dispatcher = CollectingDispatcher()
    result = await ActionSwitchTask().run(dispatcher, state, DOMAIN)
    assert [m["response"] for m in dispatcher.messages] == [said]
    assert result[:2] == [ActiveLoop(None), SlotSet("requested_slot", None)]
    assert result[-1] == FollowupAction("recommend_form")
    assert (SlotSet("paused_task", paused) in result) is (paused is not None)


@pytest.mark.parametrize(
    ("intent", "expected"),
    [
        (
            "affirm",
            [
                SlotSet("resume_offered", None),
                SlotSet("order_id", ORDER),
                FollowupAction("return_form"),
            ],
        ),
        ("deny", [SlotSet("resume_offered", None)]),
    ],
)
async def test_the_paused_task_is_taken_up_or_left(intent: str, expected: list[Any]) -> None:
    state = tracker([user(intent, "好的")], {"resume_offered": f"return_form:{ORDER}"})
    dispatcher = CollectingDispatcher()
    assert await ActionResumeTask().run(dispatcher, state, DOMAIN) == expected
    said = [m["response"] for m in dispatcher.messages]
    assert said == ([] if intent == "affirm" else ["utter_resume_declined"])


@pytest.mark.parametrize(
    ("text", "others"),
    [
        ("查一下订单YX2611010001，顺便问下退货要几天", ["查一下订单YX2611010001", "退货要几天"]),
        (
            "帮我查订单YX2611010001，另外运费谁出？还有发票怎么开",
            ["帮我查订单YX2611010001", "运费谁出", "发票怎么开"],
        ),
        ("退货要几天？另外帮我查下订单YX2611010001", ["退货要几天", "帮我查下订单YX2611010001"]),
        (
            "where is YX2611010001, also how long do refunds take?",
            ["where is YX2611010001", "how long do refunds take"],
        ),
        ("我要退货", []),
        ("also", []),
    ],
)
def test_the_requests_of_a_message(text: str, others: list[str]) -> None:
    assert other_requests(text) == others
    # Each message with several requests asks something besides naming the order.
    assert any(is_question(part) and "YX" not in part for part in others) is bool(others)


@pytest.mark.parametrize(
    ("text", "drops"),
    [
        ("算了，帮我推荐个耳机吧", True),
        ("never mind, recommend me a phone", True),
        ("forget it, cancel my order", True),
        ("推荐个两千以内的手机", False),
        ("我算了一下运费", False),
    ],
)
def test_a_stop_before_a_new_request(text: str, drops: bool) -> None:
    assert drops_current_task(text) is drops


async def probe(order_id: str, slots: dict[str, Any]) -> tuple[list[str], dict[str, Any], Any]:
    """One customer's whole exchange with the cancel form for ``order_id``: validation of the
    id, the slots asked next, then one wrong phone ending."""
    form, dispatcher = ValidateCancelForm(), CollectingDispatcher()
    given = tracker([user("inform", order_id)], slots)
    slots = {**slots, **await form.validate_order_id(order_id, dispatcher, given, {})}
    asked = await form.required_slots(
        CANCEL_SLOTS, dispatcher, tracker([user("inform", order_id)], slots), {}
    )
    state = tracker([user("inform", "0000")], {**slots, "requested_slot": "phone_last4"})
    result = await form.validate_phone_last4("0000", dispatcher, state, {})
    said = [f"{m['response']}:{m.get('order_id')}" for m in dispatcher.messages]
    return said, {**slots, **result}, asked


async def test_an_unknown_order_id_is_answered_exactly_like_someone_elses() -> None:
    foreign_said, foreign, foreign_asked = await probe(ORDER, {})
    unknown_said, unknown, unknown_asked = await probe("YX2699999999", {})
    assert foreign_asked == unknown_asked == ["order_id", "phone_last4", "cancel_confirmed"]
    assert foreign_said == [f"utter_phone_mismatch:{ORDER}"]
    assert unknown_said == ["utter_phone_mismatch:YX2699999999"]
    assert foreign["phone_attempts"] == {ORDER: 1}
    assert unknown["phone_attempts"] == {"YX2699999999": 1}


async def test_wrong_digits_over_many_order_ids_stop_the_conversation() -> None:
    slots: dict[str, Any] = {"phone_attempts": None}
    tried = [f"YX26990000{n:02d}" for n in range(6)]
    for order_id in tried:
        said, slots, _asked = await probe(order_id, {"phone_attempts": slots["phone_attempts"]})
        if sum(slots["phone_attempts"].values()) < 6:
            assert said == [f"utter_phone_mismatch:{order_id}"]
    assert slots["phone_attempts"] == dict.fromkeys(tried, 1)
    # A seventh id, never tried: the form no longer asks for digits, the submit says why.
    state = tracker([user("inform", "x")], {**slots, "order_id": "YX2699000099"})
    dispatcher = CollectingDispatcher()
    assert await ValidateCancelForm().required_slots(CANCEL_SLOTS, dispatcher, state, {}) == [
        "order_id"
    ]
    await ActionOrderStatus().run(dispatcher, state, {})
    assert [(m["response"], m["order_id"]) for m in dispatcher.messages] == [
        ("utter_phone_attempts_exhausted", "YX2699000099")
    ]


async def test_the_customers_own_order_is_served_after_the_cap() -> None:
    spent = {f"YX26990000{n:02d}": 1 for n in range(6)}
    state = tracker([user("inform", ORDER)], {"order_id": ORDER, "phone_attempts": spent})
    state.latest_message["metadata"] = {"customer_id": "customer-001"}
    asked = await ValidateCancelForm().required_slots(
        CANCEL_SLOTS, CollectingDispatcher(), state, {}
    )
    assert "phone_last4" not in asked
    assert asked[0] == "order_id"


@pytest.mark.parametrize(
    ("clause", "task"),
    [
        ("另外我想退货", "return_form"),
        ("帮我把这单取消了", "cancel_form"),
        ("取消退货", "cancel_form"),
        ("地址也要改一下", "address_form"),
        ("再帮我推荐个耳机", "recommend_form"),
        ("查下订单到哪了", "order_status_form"),
        ("please cancel YX2611010002", "cancel_form"),
        ("I want a refund for it", "return_form"),
        ("suggest a phone under 2000", "recommend_form"),
        ("track it", "order_status_form"),
        ("谢谢", None),
        ("thanks a lot", None),
    ],
)
def test_a_request_clause_names_its_task(clause: str, task: str | None) -> None:
    assert clause_task(clause) == task


OFFER_DOMAIN = {
    "responses": {
        name: [
            {"text": zh, "condition": [{"type": "slot", "name": "language", "value": "zh"}]},
            {"text": en},
        ]
        for name, zh, en in (
            ("utter_offer_other_request", "还说“{request}”？", "also: {request}?"),
            ("utter_offer_other_request_button", "好的", "Yes"),
        )
    }
}


@pytest.mark.parametrize(
    ("message", "form", "offered"),
    [
        # The other task is offered, with the clause as the button's message.
        ("查一下订单YX2611010005，另外我想退货", "order_status_form", "我想退货"),
        ("我想退货，然后帮我推荐个耳机", "return_form", "帮我推荐个耳机"),
        # The task that just ran, a question (answered from the knowledge base instead) and
        # words that name no task are not offered.
        ("查一下订单YX2611010005，还有帮我查下物流", "order_status_form", None),
        ("查一下订单YX2611010005，顺便问下退货要几天", "order_status_form", None),
        ("查一下订单YX2611010005，另外谢谢你们", "order_status_form", None),
    ],
)
def test_a_further_request_of_the_message_is_offered_not_started(
    message: str, form: str, offered: str | None
) -> None:
    dispatcher = CollectingDispatcher()
    offer_other_task(dispatcher, OFFER_DOMAIN, "zh", form, other_requests(message))
    if offered is None:
        assert dispatcher.messages == []
    else:
        [message_sent] = dispatcher.messages
        assert message_sent["text"] == f"还说“{offered}”？"
        assert message_sent["buttons"] == [{"title": "好的", "payload": offered}]


@pytest.mark.parametrize(
    ("text", "goes_on"),
    [
        ("继续", True),
        ("继续吧", True),
        ("好的，继续", True),
        ("接着办", True),
        ("go on", True),
        ("yes, continue", True),
        ("let's continue", True),
        ("不用继续了", False),
        ("别继续了", False),
        ("don't continue", False),
        ("no need to go on", False),
        ("继续保持", True),  # only ever asked right after the offer, where it means carry on
        ("查一下订单", False),
    ],
)
def test_carrying_on_is_read_from_the_words(text: str, goes_on: bool) -> None:
    assert carries_on(text) is goes_on


@pytest.mark.parametrize(("intent", "text"), [("stop", "继续"), ("affirm", "好的")])
async def test_go_on_words_resume_the_paused_task_whatever_the_intent(
    intent: str, text: str
) -> None:
    state = tracker([user(intent, text)], {"resume_offered": f"return_form:{ORDER}"})
    events = await ActionResumeTask().run(CollectingDispatcher(), state, {})
    assert events == [
        SlotSet("resume_offered", None),
        SlotSet("order_id", ORDER),
        FollowupAction("return_form"),
    ]


async def test_a_real_stop_at_the_offer_leaves_the_paused_task() -> None:
    state = tracker([user("stop", "不用继续了")], {"resume_offered": f"return_form:{ORDER}"})
    dispatcher = CollectingDispatcher()
    events = await ActionResumeTask().run(dispatcher, state, {})
    assert events == [SlotSet("resume_offered", None)]
    assert [m["response"] for m in dispatcher.messages] == ["utter_resume_declined"]


@pytest.mark.parametrize(
    ("text", "confidence", "reason"),
    [
        ("I no longer need it", 0.75, True),
        ("don't need it anymore", 0.72, True),
        ("不想要了", 0.9, True),
        ("尺码太小了", 0.8, True),
        ("changed my mind", 0.3, True),  # unsure: a reason as before
        ("never mind, forget the return", 0.9, False),
        ("不用退了", 0.95, False),
        ("I don't need the refund anymore", 0.8, False),
        ("算了", 0.97, False),
    ],
)
async def test_a_stop_that_says_why_answers_the_return_reason(
    text: str, confidence: float, reason: bool
) -> None:
    """At "why return it?", a `stop` that gives a reason is the reason and the return goes on
    to its confirmation; one that stops the return stops it."""
    state = tracker([user("stop", text)], {"order_id": ORDER})
    state.events = [slot("requested_slot", "return_reason"), *state.events]
    state.latest_message["intent"] = {"name": "stop", "confidence": confidence}
    dispatcher = CollectingDispatcher()
    result = await ActionFormStopped().run(dispatcher, state, {})
    if reason:
        assert result == [SlotSet("return_reason", text), FollowupAction("return_form")]
        assert dispatcher.messages == []
    else:
        assert [m["response"] for m in dispatcher.messages][:1] == ["utter_form_stopped"]
        assert SlotSet("return_reason", None) in result
