"""Handoff from the customer's side, through the real platform: triggers, waiting, cancel."""

from __future__ import annotations

import uuid

import httpx
import pytest

from bot.conversations import notice
from tests.conftest import query_hub_db, response_text
from tests.launch import PlatformProcess

pytestmark = pytest.mark.integration


def say(platform: PlatformProcess, sender: str, text: str) -> dict:  # type: ignore[type-arg]
    response = httpx.post(
        f"{platform.hub_url}/api/messages", json={"sender": sender, "text": text}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def rasa_direct(platform: PlatformProcess, conversation_id: str, text: str) -> list[dict]:  # type: ignore[type-arg]
    response = httpx.post(
        f"{platform.rasa_url}/webhooks/rest/webhook",
        json={"sender": conversation_id, "message": text},
        timeout=30,
    )
    return response.json()  # type: ignore[no-any-return]


def test_angry_customer_waits_for_a_human_and_can_cancel(platform: PlatformProcess) -> None:
    sender = f"angry-{uuid.uuid4().hex[:6]}"
    first = say(platform, sender, "你们这什么垃圾服务，我要投诉你们！！")
    conversation_id = first["conversation_id"]
    assert first["mode"] == "waiting"
    notice_reply = first["replies"][-1]
    assert notice_reply["custom"]["author"] == "system"
    assert notice_reply["custom"]["kind"] == "queue"
    assert "人工客服" in notice_reply["text"]

    # While waiting, the bot stays silent and the queue notice is not repeated at once.
    waiting = say(platform, sender, "在吗？")
    assert (waiting["mode"], waiting["replies"]) == ("waiting", [])
    # Rasa itself is paused for this conversation, whoever talks to it.
    assert rasa_direct(platform, conversation_id, "你好") == []

    cancelled = say(platform, sender, "取消")
    assert cancelled["mode"] == "bot"
    assert [r["text"] for r in cancelled["replies"]] == [notice("cancelled", "zh")]
    back = say(platform, sender, "你好")
    assert back["replies"][0]["text"] == response_text("utter_greet", "zh")

    rows = query_hub_db(
        platform.var_dir,
        "SELECT m.author, m.status, m.sentiment FROM messages m JOIN conversations c"
        " ON c.id = m.conversation_id WHERE c.public_id = ? AND m.direction = 'in' ORDER BY m.id",
        (conversation_id,),
    )
    assert [r["status"] for r in rows] == ["answered", "stored", "stored", "answered"]
    assert rows[0]["sentiment"] <= -0.5
    (handoff,) = query_hub_db(
        platform.var_dir,
        "SELECT h.status, h.reason FROM handoffs h JOIN conversations c"
        " ON c.id = h.conversation_id WHERE c.public_id = ?",
        (conversation_id,),
    )
    assert tuple(handoff) == ("cancelled", "angry")


def test_calm_customer_stays_with_the_bot(platform: PlatformProcess) -> None:
    sender = f"calm-{uuid.uuid4().hex[:6]}"
    answer = say(platform, sender, "hello there")
    assert answer["mode"] == "bot"
    assert answer["replies"][0]["text"] == response_text("utter_greet", "en")


@pytest.mark.parametrize(
    "text",
    [
        "麻烦帮我看下订单YX2611010008现在到哪了，我明天要出差，挺着急的",
        "订单YX2611010008一直没到，急死了",
    ],
)
def test_a_worried_customer_is_reassured_and_served_not_handed_over(
    platform: PlatformProcess, text: str
) -> None:
    answer = say(platform, f"worried-{uuid.uuid4().hex[:6]}", text)
    assert answer["mode"] == "bot", answer
    assert [r["text"] for r in answer["replies"]][-1] == response_text(
        "utter_ask_phone_last4", "zh"
    ).replace("{order_id}", "YX2611010008")
    handoffs = query_hub_db(
        platform.var_dir,
        "SELECT h.reason FROM handoffs h JOIN conversations c ON c.id = h.conversation_id"
        " WHERE c.public_id = ?",
        (answer["conversation_id"],),
    )
    assert handoffs == []


def test_asking_for_a_human_queues_without_showing_the_bots_marker(
    platform: PlatformProcess,
) -> None:
    answer = say(platform, f"ask-{uuid.uuid4().hex[:6]}", "我要转人工")
    assert answer["mode"] == "waiting"
    replies = answer["replies"]
    # Rasa's reply, then the queue notice; the handoff marker Rasa adds is the hub's alone.
    assert replies[0]["text"] == response_text("utter_handoff", "zh")
    assert replies[-1]["custom"]["kind"] == "queue"
    assert all(r["text"] for r in replies)
    assert not any("handoff" in (r["custom"] or {}) for r in replies)
