"""Customer-service conversations through the real platform (hub, Rasa, action server).

Each test talks as a different demo customer, whose id the hub passes to Rasa as
``metadata.customer_id``; replies are compared with the domain's responses filled from the
platform's own order store.
"""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bot.orders import Order, OrderService, carrier_name
from tests.conftest import query_hub_db, response_text
from tests.launch import PlatformProcess
from tests.test_dialogue_traps import Recommended

pytestmark = pytest.mark.integration


def say(platform: PlatformProcess, sender: str, text: str) -> dict[str, Any]:
    response = httpx.post(
        f"{platform.hub_url}/api/messages", json={"sender": sender, "text": text}, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def texts(answer: dict[str, Any]) -> list[str]:
    return [r["text"] for r in answer["replies"] if r.get("text")]


def orders(platform: PlatformProcess) -> OrderService:
    return OrderService(platform.var_dir / "orders.db")


def reply(name: str, language: str, **fields: Any) -> str:
    return response_text(name, language).format(**fields)


def fields(order: Order, language: str) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "items": order.item_names(language),
        "total": order.total,
        "placed_on": order.placed_on.isoformat(),
        "shipped_on": order.shipped_on.isoformat() if order.shipped_on else "",
        "delivered_on": order.delivered_on.isoformat() if order.delivered_on else "",
        "carrier": carrier_name(order.carrier, language),
        "tracking_number": order.tracking_number or "",
        "address": order.address,
    }


def test_order_status_in_chinese(platform: PlatformProcess) -> None:
    order = orders(platform).get("YX2611010012")
    answer = say(platform, "customer-012", "订单yx 2611 010 012到哪了")
    assert answer["language"] == "zh"
    assert texts(answer) == [reply("utter_order_status_shipped", "zh", **fields(order, "zh"))]


def test_order_status_in_english_asks_for_the_id_and_remembers_it(
    platform: PlatformProcess,
) -> None:
    sender = "customer-017"
    order = orders(platform).get("YX2611010017")
    assert texts(say(platform, sender, "where is my order")) == [reply("utter_ask_order_id", "en")]
    assert texts(say(platform, sender, "2611010017")) == [
        reply("utter_order_status_shipped", "en", **fields(order, "en"))
    ]
    # The order id is remembered: cancelling it now needs no id, and is refused after shipping.
    assert texts(say(platform, sender, "please cancel my order")) == [
        reply("utter_change_refused_after_shipping", "en", order_id=order.id)
    ]
    assert orders(platform).get(order.id).status == "shipped"


def test_an_order_of_someone_else_needs_the_phone_digits(platform: PlatformProcess) -> None:
    sender = f"visitor-{uuid.uuid4().hex[:6]}"
    order = orders(platform).get("YX2611010016")
    first = texts(say(platform, sender, "check order YX2611010016"))
    assert first == [reply("utter_ask_phone_last4", "en", order_id=order.id)]
    wrong = "0000" if not order.phone.endswith("0000") else "1111"
    assert texts(say(platform, sender, wrong)) == [
        reply("utter_phone_mismatch", "en", order_id=order.id),
        reply("utter_ask_phone_last4", "en", order_id=order.id),
    ]
    assert texts(say(platform, sender, f"it ends with {order.phone[-4:]}")) == [
        reply("utter_phone_verified", "en"),
        reply("utter_order_status_delivered", "en", **fields(order, "en")),
    ]


def test_return_with_the_policy_check_in_chinese(platform: PlatformProcess) -> None:
    sender = "customer-001"
    service = orders(platform)
    order = service.get("YX2611010001")
    assert texts(say(platform, sender, "我要退货")) == [reply("utter_ask_order_id", "zh")]
    # Digits only: the hub takes "YX…" alone for an English message.
    assert texts(say(platform, sender, "2611010001")) == [reply("utter_ask_return_reason", "zh")]
    assert order.delivered_on is not None
    confirmation = reply(
        "utter_ask_return_confirmed",
        "zh",
        **fields(order, "zh"),
        return_kind=response_text("utter_return_kind_no_reason", "zh"),
        deadline=(order.delivered_on + timedelta(days=7)).isoformat(),
        shipping_fee=response_text("utter_shipping_fee", "zh").format(fee=10),
    )
    assert texts(say(platform, sender, "尺码不合适")) == [confirmation]
    assert texts(say(platform, sender, "是的")) == [
        reply("utter_return_submitted", "zh", **fields(order, "zh"))
    ]
    assert service.get(order.id).status == "return_requested"
    assert service.history(order.id) == [("return_requested", "no_reason: 尺码不合适")]

    # Delivered 16 days ago: past every return window, so the form ends with the reason why.
    late = service.get("YX2611010041")
    assert late.delivered_on is not None
    assert texts(say(platform, sender, "订单YX2611010041我要退货")) == [
        reply(
            "utter_return_ineligible_window_passed",
            "zh",
            **fields(late, "zh"),
            deadline=(late.delivered_on + timedelta(days=15)).isoformat(),
        )
    ]
    assert service.get(late.id).status == "delivered"


def test_correcting_the_order_id_at_the_confirmation(platform: PlatformProcess) -> None:
    sender = "customer-011"
    service = orders(platform)
    assert texts(say(platform, sender, "I want to return something")) == [
        reply("utter_ask_order_id", "en")
    ]
    assert texts(say(platform, sender, "YX2611010011")) == [reply("utter_ask_return_reason", "en")]
    asked = texts(say(platform, sender, "I don't like the color"))
    assert len(asked) == 1
    assert asked[0].startswith("Order YX2611010011 (")
    # The other order was delivered 13 days ago: too late for a no-reason return.
    other = service.get("YX2611010031")
    assert other.delivered_on is not None
    assert texts(say(platform, sender, "actually it's YX2611010031")) == [
        reply(
            "utter_return_ineligible_no_reason_window_passed",
            "en",
            **fields(other, "en"),
            deadline=(other.delivered_on + timedelta(days=7)).isoformat(),
        )
    ]
    assert service.get("YX2611010011").status == "delivered"
    assert service.get("YX2611010031").status == "delivered"


def test_cancel_an_order_in_chinese(platform: PlatformProcess) -> None:
    sender = "customer-013"
    order = orders(platform).get("YX2611010013")
    assert texts(say(platform, sender, "帮我取消订单YX2611010013")) == [
        reply("utter_ask_cancel_confirmed", "zh", **fields(order, "zh"))
    ]
    assert texts(say(platform, sender, "确认")) == [
        reply("utter_cancel_done", "zh", **fields(order, "zh"))
    ]
    assert orders(platform).get(order.id).status == "cancelled"


def test_noise_at_a_confirmation_cancels_nothing(platform: PlatformProcess) -> None:
    # "啊啊啊啊啊" lands on `affirm` (about 0.5, above the rejection threshold): not a sure
    # enough "yes" to cancel an order, so the question is asked again.
    sender = "customer-013"
    order = orders(platform).get("YX2611010033")
    ask = reply("utter_ask_cancel_confirmed", "zh", **fields(order, "zh"))
    assert texts(say(platform, sender, "帮我取消订单YX2611010033")) == [ask]
    assert texts(say(platform, sender, "啊啊啊啊啊"))[-1] == ask
    assert orders(platform).get(order.id).status == "paid"
    assert texts(say(platform, sender, "是的")) == [
        reply("utter_cancel_done", "zh", **fields(order, "zh"))
    ]
    assert orders(platform).get(order.id).status == "cancelled"


def test_change_the_address_in_english(platform: PlatformProcess) -> None:
    sender = "customer-015"
    order = orders(platform).get("YX2611010015")
    new = "Room 5, 88 Caoxi North Road, Xuhui, Shanghai"
    assert texts(say(platform, sender, "I need to change my address")) == [
        reply("utter_ask_order_id", "en")
    ]
    assert texts(say(platform, sender, "the order is YX2611010015")) == [
        reply("utter_ask_new_address", "en", **fields(order, "en"))
    ]
    assert texts(say(platform, sender, new)) == [
        reply("utter_ask_address_confirmed", "en", order_id=order.id, new_address=new)
    ]
    changed = texts(say(platform, sender, "yes"))
    assert changed == [reply("utter_address_changed", "en", order_id=order.id, address=new)]
    assert orders(platform).get(order.id).address == new


def test_stopping_a_form(platform: PlatformProcess) -> None:
    sender = "customer-005"
    assert texts(say(platform, sender, "我要改地址")) == [reply("utter_ask_order_id", "zh")]
    assert texts(say(platform, sender, "算了")) == [reply("utter_form_stopped", "zh")]
    # The form is over: the next message is answered on its own.
    assert texts(say(platform, sender, "谢谢")) == [reply("utter_you_are_welcome", "zh")]
    assert orders(platform).get("YX2611010025").status == "pending_payment"


def test_language_switch_in_the_middle_of_a_form(platform: PlatformProcess) -> None:
    sender = "customer-003"
    order = orders(platform).get("YX2611010043")
    assert texts(say(platform, sender, "我要取消订单")) == [reply("utter_ask_order_id", "zh")]
    switched = say(platform, sender, "it's YX2611010043")
    assert switched["language"] == "en"
    assert texts(switched) == [reply("utter_ask_cancel_confirmed", "en", **fields(order, "en"))]
    assert texts(say(platform, sender, "yes")) == [
        reply("utter_cancel_done", "en", **fields(order, "en"))
    ]


def test_two_stage_fallback(platform: PlatformProcess) -> None:
    sender = f"unclear-{uuid.uuid4().hex[:6]}"
    first = say(platform, sender, "blorp snarf")
    assert [r["text"] for r in first["replies"]] == [reply("utter_fallback_suggest", "en")]
    buttons = first["replies"][0]["buttons"]
    assert len(buttons) == 2
    assert all(b["payload"].startswith("/") for b in buttons)
    second = say(platform, sender, "purple monkey dishwasher")
    # The knowledge base had its try and nothing either: the second miss in a row hands over.
    custom = [r["custom"] or {} for r in second["replies"]]
    [knowledge] = [c["knowledge"] for c in custom if "knowledge" in c]
    assert knowledge["abstained"] is True
    assert reply("utter_handoff", "en") in texts(second)
    assert second["mode"] == "waiting"
    (row,) = query_hub_db(
        platform.var_dir,
        "SELECT h.reason FROM handoffs h JOIN conversations c"
        " ON c.id = h.conversation_id WHERE c.public_id = ?",
        (second["conversation_id"],),
    )
    assert row["reason"] == "repeated_fallback"


def test_asking_for_a_human_hands_over(platform: PlatformProcess) -> None:
    sender = f"wants-human-{uuid.uuid4().hex[:6]}"
    answer = say(platform, sender, "转人工")
    assert texts(answer)[0] == reply("utter_handoff", "zh")
    assert answer["mode"] == "waiting"
    (handoff,) = query_hub_db(
        platform.var_dir,
        "SELECT h.reason, h.language FROM handoffs h JOIN conversations c"
        " ON c.id = h.conversation_id WHERE c.public_id = ?",
        (answer["conversation_id"],),
    )
    assert tuple(handoff) == ("customer_request", "zh")


def test_recommendation_from_the_catalogue(platform: PlatformProcess) -> None:
    sender = f"shopper-{uuid.uuid4().hex[:6]}"
    assert texts(say(platform, sender, "推荐一款手机")) == [reply("utter_ask_budget", "zh")]
    assert texts(say(platform, sender, "两千以内")) == [
        Recommended("electronics", "两千以内", "zh")
    ]


def test_a_related_question_is_asked_with_its_button(platform: PlatformProcess) -> None:
    sender = f"related-{uuid.uuid4().hex[:6]}"
    first = say(platform, sender, "快递费多少钱啊")
    # Rasa sends the text with its buttons, then the data for the console, as two messages.
    [shown] = [r for r in first["replies"] if r["buttons"]]
    [data] = [r["custom"]["knowledge"] for r in first["replies"] if r["custom"]]
    assert shown["text"].endswith("您可能还想问：")
    assert shown["buttons"] == [
        {"title": r["question"], "payload": r["question"]} for r in data["related"]
    ]
    # The shipping fee FAQ answers; the courier FAQ is among the close questions, and tapping it
    # sends its question.
    [answered] = [r["custom"]["citations"] for r in first["replies"] if r["custom"]]
    assert [c["doc_id"] for c in answered] == ["shipping-fee"]
    assert texts(first)[0].startswith("单笔订单实付满99元免运费，不满99元收取10元运费。")
    [carriers] = [r for r in data["related"] if r["doc_id"] == "shipping-carriers"]
    second = say(platform, sender, carriers["question"])
    [citations] = [r["custom"]["citations"] for r in second["replies"] if r["custom"]]
    assert [c["doc_id"] for c in citations] == ["shipping-carriers"]
    assert texts(second)[0].startswith("我们使用顺丰速运、京东物流和中通快递发货")


def test_an_unclear_message_the_knowledge_base_knows_is_answered_at_once(
    platform: PlatformProcess,
) -> None:
    sender = f"unclear-kb-{uuid.uuid4().hex[:6]}"
    answer = say(platform, sender, "一个订单咋分开发了")
    # NLU has no confident intent for it ...
    with closing(sqlite3.connect(platform.var_dir / "rasa" / "tracker.db")) as tracker:
        (intent,) = tracker.execute(
            "SELECT intent_name FROM events WHERE sender_id = ? AND type_name = 'user'"
            " ORDER BY id DESC LIMIT 1",
            (answer["conversation_id"],),  # the hub's conversation id is Rasa's sender
        ).fetchone()
    assert intent == "nlu_fallback"
    # ... but the knowledge base has: its answer, not "did you mean", and no handoff.
    [citations] = [r["custom"]["citations"] for r in answer["replies"] if r["custom"]]
    assert [c["doc_id"] for c in citations] == ["shipping-split"]
    assert reply("utter_fallback_suggest", "zh") not in texts(answer)
    assert answer["mode"] == "bot"
