"""Every messaging app through the whole platform: the real Rasa, action server and hub.

Payloads are built exactly as each app documents them, with the same signing helpers as the
per-app tests (which stand Rasa in); the apps' APIs are the session's ``app_stand_in``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests import (
    test_channels_dingtalk as dingtalk,
)
from tests import (
    test_channels_feishu as feishu,
)
from tests import (
    test_channels_slack as slack,
)
from tests import (
    test_channels_telegram as telegram,
)
from tests import (
    test_channels_wechat as wechat,
)
from tests import (
    test_channels_wecom as wecom,
)
from tests.app_standin import AppStandIn, Sent
from tests.conftest import query_hub_db, response_text
from tests.launch import PlatformProcess
from tests.test_handoff_restart import PASSWORD, add_agent

pytestmark = pytest.mark.integration


def recipient_of(sent: Sent) -> str:
    """Who a message the hub sent through an app's API was for."""
    body = sent.body
    for key in ("touser", "chat_id", "channel", "receive_id"):
        if key in body:
            return str(body[key])
    return ",".join(body.get("userIds") or [])


def text_of(sent: Sent) -> str:
    body = sent.body
    if isinstance(body.get("text"), dict):
        return str(body["text"].get("content"))
    if "msgmenu" in body:
        return str(body["msgmenu"]["head_content"])
    if body.get("method") in ("sendMessage", "chat.postMessage"):
        return str(body["text"])
    if body.get("msg_type") == "interactive":
        return str(body["content"]["elements"][0]["text"]["content"])
    if body.get("msg_type") == "text":
        return str(body["content"]["text"])
    return str(body["msgParam"]["content"])


def texts_to(stand_in: AppStandIn, recipient: str) -> list[str]:
    return [text_of(s) for s in list(stand_in.sent) if recipient_of(s) == recipient]


def wait_for_texts(stand_in: AppStandIn, recipient: str, count: int) -> list[str]:
    stand_in.wait_for(
        lambda: len(texts_to(stand_in, recipient)) >= count, f"{count} replies to {recipient}"
    )
    return texts_to(stand_in, recipient)


def msg_id() -> int:
    return random.randrange(10**12, 10**13)


# Each app: how to post a customer's text from a new customer, and whom the reply goes to.
Poster = Callable[[httpx.Client, str], tuple[Any, str]]


def post_wechat(client: httpx.Client, text: str) -> tuple[Any, str]:
    openid = f"o-live-{uuid.uuid4().hex[:8]}"
    return wechat.signed_post(client, wechat.text_xml(text, msg_id(), sender=openid)), openid  # type: ignore[arg-type]


def post_wecom(client: httpx.Client, text: str) -> tuple[Any, str]:
    user = f"live{uuid.uuid4().hex[:8]}"
    xml = wecom.text_xml(text, msg_id()).replace(f"[{wecom.USER}]", f"[{user}]")
    return wecom.post(client, xml), user  # type: ignore[arg-type]


def post_telegram(client: httpx.Client, text: str) -> tuple[Any, str]:
    chat = random.randrange(10**8, 10**9)
    return telegram.post(client, telegram.text_update(msg_id(), text, chat=chat)), str(chat)  # type: ignore[arg-type]


def post_slack(client: httpx.Client, text: str) -> tuple[Any, str]:
    dm = f"D{uuid.uuid4().hex[:10].upper()}"
    envelope = slack.event(f"Ev{uuid.uuid4().hex}", text, channel=dm)
    return slack.post_event(client, envelope), dm  # type: ignore[arg-type]


def post_feishu(client: httpx.Client, text: str) -> tuple[Any, str]:
    chat = f"oc_{uuid.uuid4().hex[:12]}"
    event = feishu.message_event(f"ev-{uuid.uuid4().hex}", f"om_{uuid.uuid4().hex}", text)
    event["event"]["message"]["chat_id"] = chat
    event["event"]["sender"]["sender_id"]["open_id"] = f"ou_{uuid.uuid4().hex[:12]}"
    return feishu.post(client, event), chat  # type: ignore[arg-type]


def post_dingtalk(client: httpx.Client, text: str) -> tuple[Any, str]:
    staff = f"staff{uuid.uuid4().hex[:8]}"
    body = dingtalk.callback(f"msg-{uuid.uuid4().hex}", text, senderStaffId=staff)
    return dingtalk.post(client, body), staff  # type: ignore[arg-type]


APPS: dict[str, tuple[Poster, str, str]] = {
    "wechat": (post_wechat, "你好", "zh"),
    "wecom": (post_wecom, "你好", "zh"),
    "telegram": (post_telegram, "hello", "en"),
    "slack": (post_slack, "hello", "en"),
    "feishu": (post_feishu, "你好", "zh"),
    "dingtalk": (post_dingtalk, "你好", "zh"),
}


@pytest.fixture
def hub(platform: PlatformProcess) -> httpx.Client:
    return httpx.Client(base_url=platform.hub_url, timeout=30)


@pytest.mark.parametrize("app", list(APPS))
def test_each_app_is_answered_by_the_real_dialogue_in_the_customers_language(
    app: str, hub: httpx.Client, app_stand_in: AppStandIn, platform: PlatformProcess
) -> None:
    poster, greeting, language = APPS[app]
    response, recipient = poster(hub, greeting)
    assert response.status_code == 200, response.text
    [reply] = wait_for_texts(app_stand_in, recipient, 1)
    assert reply == response_text("utter_greet", language)
    rows = query_hub_db(
        platform.var_dir,
        "SELECT c.channel, m.direction, m.text FROM messages m"
        " JOIN conversations c ON c.id = m.conversation_id WHERE c.sender LIKE ? ORDER BY m.id",
        (f"%{recipient}%",),
    )
    assert [tuple(r) for r in rows] == [(app, "in", greeting), (app, "out", reply)]


def test_an_order_look_up_from_wechat_runs_the_form_and_its_checks(
    hub: httpx.Client, app_stand_in: AppStandIn
) -> None:
    response, openid = post_wechat(hub, "帮我查一下订单YX2611010008")
    assert response.status_code == 200
    [asked] = wait_for_texts(app_stand_in, openid, 1)
    assert asked == response_text("utter_ask_phone_last4", "zh").replace(
        "{order_id}", "YX2611010008"
    )
    # A second message from the same customer continues the same conversation in Rasa:
    # a non-digit answer is not taken as a wrong phone ending.
    xml = wechat.text_xml("算了，退货要几天", msg_id(), sender=openid)
    assert wechat.signed_post(hub, xml).status_code == 200  # type: ignore[arg-type]
    later = wait_for_texts(app_stand_in, openid, 2)
    assert not any("不符" in text for text in later[1:])


def test_a_telegram_customer_reaches_an_agent_and_the_agents_reply_arrives_in_telegram(
    hub: httpx.Client, app_stand_in: AppStandIn, platform: PlatformProcess
) -> None:
    username = f"agent-{uuid.uuid4().hex[:6]}"
    add_agent(platform, username)
    response, chat = post_telegram(hub, "I want to talk to a human")
    assert response.status_code == 200
    texts = wait_for_texts(app_stand_in, chat, 2)
    assert texts[0] == response_text("utter_handoff", "en")

    agent = httpx.Client(base_url=platform.hub_url, timeout=30)
    login = agent.post("/console/api/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    agent.headers["X-CSRF-Token"] = agent.cookies["console_csrf"]
    agent.post("/console/api/presence", json={"presence": "online"})
    (conversation_id,) = [
        r["public_id"]
        for r in query_hub_db(
            platform.var_dir,
            "SELECT public_id FROM conversations WHERE channel = 'telegram' AND sender LIKE ?",
            (f"%{chat}%",),
        )
    ]
    [handoff] = [
        h for h in agent.get("/console/api/queue").json() if h["conversation_id"] == conversation_id
    ]
    assert agent.post(f"/console/api/handoffs/{handoff['id']}/accept").status_code == 200
    said = agent.post(
        f"/console/api/handoffs/{handoff['id']}/messages", json={"text": "Hi, this is Mei."}
    )
    assert said.status_code == 200, said.text
    app_stand_in.wait_for(
        lambda: "Hi, this is Mei." in texts_to(app_stand_in, chat), "the agent's reply"
    )

    # The agent hands back (and goes off duty: a later test's request is not theirs); the bot
    # answers the next Telegram message again.
    assert agent.post(f"/console/api/handoffs/{handoff['id']}/return").status_code == 200
    agent.post("/console/api/presence", json={"presence": "offline"}).raise_for_status()
    count = len(texts_to(app_stand_in, chat))
    update = telegram.text_update(msg_id(), "hello", chat=int(chat))
    assert telegram.post(hub, update).status_code == 200  # type: ignore[arg-type]
    greet = response_text("utter_greet", "en")
    app_stand_in.wait_for(
        lambda: greet in texts_to(app_stand_in, chat)[count:], "the bot's answer after return"
    )
