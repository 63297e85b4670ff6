"""Recommendation feedback and one customer across apps, end to end in-process: Telegram updates,
Feishu events (encrypted and signed), Slack actions (slack-sdk's signer) and DingTalk callbacks
(HMAC) posted to one hub (real app, real SQLite, the demo catalogue), with a local server standing
in for the apps' APIs (send, Feishu's contact API) and Rasa (which answers "给我推荐手机" with the
cards ``action_recommend`` sends)."""

from __future__ import annotations

import io
import json
import sqlite3
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from bot.app import Settings, create_app
from channels.connector import LINK_REPLIES
from tests import test_channels_dingtalk as ding
from tests import test_channels_feishu as lark
from tests import test_channels_telegram as tg
from tests import test_channels_wecom as wecom
from tests.app_standin import AppStandIn, drain
from tests.conftest import query_hub_db
from tests.test_channels_slack import SIGNING_SECRET, signed
from tests.test_handoff_restart import PASSWORD

ADMIN = "a" * 32
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}
CHAT = tg.CHAT  # the Telegram customer's private chat (= their user id)
PHONE_E164, PHONE_NATIONAL = "+8613800138000", "13800138000"
SIMILAR_2 = '/ask_recommendation{"similar_to":"EL-002"}'
ASK = "给我推荐手机"


def settings_for(var_dir: Path, stand_in: AppStandIn) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=var_dir,
        rasa_port=stand_in.port,
        actions_port=stand_in.port,
        admin_token=ADMIN,
        business_hours="00:00-24:00",
        telegram_bot_token=tg.BOT_TOKEN,
        telegram_secret_token=tg.SECRET,
        telegram_bot_username="shop_bot",
        telegram_api_url=stand_in.url,
        feishu_app_id="cli_test",
        feishu_app_secret="app-secret",
        feishu_verification_token=lark.VERIFICATION,
        feishu_encrypt_key=lark.ENCRYPT_KEY,
        feishu_api_url=stand_in.url,
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=f"{stand_in.url}/api",
        dingtalk_app_key=ding.APP_KEY,
        dingtalk_app_secret=ding.APP_SECRET,
        dingtalk_robot_code=ding.APP_KEY,
        dingtalk_api_url=stand_in.url,
        wecom_corp_id=wecom.CORP_ID,
        wecom_agent_id=wecom.AGENT_ID,
        wecom_secret="corp-secret",
        wecom_token=wecom.TOKEN,
        wecom_aes_key=wecom.AES_KEY,
        wecom_api_url=stand_in.url,
        outbox_retry_s=3600.0,
    )


@pytest.fixture
def hub(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path, stand_in))) as client:
        yield client


def tap(update_id: int, data: str, title: str = "", chat: int = CHAT) -> dict[str, Any]:
    """A Telegram callback query: the customer tapped an inline button (the message it is on
    comes with it, its keyboard too)."""
    keyboard = {"inline_keyboard": [[{"text": title, "callback_data": data}]]} if title else {}
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cbq-{update_id}",
            "from": {"id": chat, "is_bot": False, "first_name": "Li"},
            "message": {
                "message_id": 1,
                "chat": {"id": chat, "type": "private"},
                "date": 0,
                "reply_markup": keyboard,
            },
            "chat_instance": "ci-1",
            "data": data,
        },
    }


def contact(update_id: int, user_id: int, phone: str = PHONE_E164) -> dict[str, Any]:
    """A shared contact; Telegram's ``request_contact`` button sends the sender's own."""
    update = tg.text_update(update_id, "")
    del update["message"]["text"]
    update["message"]["contact"] = {"phone_number": phone, "first_name": "Li", "user_id": user_id}
    return update


def feishu_card_tap(event_id: str, payload: str, title: str) -> dict[str, Any]:
    """A ``card.action.trigger`` event (schema 2.0): a tap on a card button."""
    return {
        "schema": "2.0",
        "header": {
            "event_id": event_id,
            "event_type": "card.action.trigger",
            "create_time": str(int(time.time() * 1000)),
            "token": lark.VERIFICATION,
            "app_id": "cli_test",
        },
        "event": {
            "operator": {"open_id": "ou_customer"},
            "action": {"tag": "button", "value": {"payload": payload, "title": title}},
            "context": {"open_chat_id": lark.CHAT, "open_message_id": "om_cards"},
        },
    }


def events_of(var_dir: Path) -> list[tuple[str, str, str, str]]:
    rows = query_hub_db(
        var_dir, "SELECT user_id, item_id, kind, channel FROM recommend_events ORDER BY id"
    )
    return [(r["user_id"], r["item_id"], r["kind"], r["channel"]) for r in rows]


def links_of(var_dir: Path) -> list[tuple[str, str]]:
    rows = query_hub_db(var_dir, "SELECT identity_key, person FROM identity_links ORDER BY id")
    return [(r["identity_key"], r["person"]) for r in rows]


def telegram_texts(stand_in: AppStandIn) -> list[str]:
    return [s.body["text"] for s in stand_in.sent if s.body.get("method") == "sendMessage"]


def test_telegram_card_taps_record_feedback_and_answer(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    tg.post(hub, tg.text_update(1, ASK))
    drain(hub)
    cards = stand_in.sent[-1].body
    assert cards["text"].startswith("1. 华为 Mate 60 手机 ¥4999")
    assert cards["reply_markup"]["inline_keyboard"][1] == [
        {"text": "看看详情", "callback_data": "rf:click:EL-002"},
        {"text": "不感兴趣", "callback_data": "rf:dismiss:EL-002"},
        {"text": "更多类似", "callback_data": SIMILAR_2},
    ]
    for update_id in (2, 3):  # pressed twice: one dismissal (the service ignores the replay)
        tg.post(hub, tap(update_id, "rf:dismiss:EL-001"))
        drain(hub)
    assert events_of(tmp_path) == [(f"telegram:{CHAT}", "EL-001", "dismiss", "telegram")]
    acknowledged = LINK_REPLIES["dismissed"]["zh"].format(name="华为 Mate 60 手机")
    assert telegram_texts(stand_in)[-2:] == [acknowledged, acknowledged]
    answered = [s.body for s in stand_in.sent if s.body["method"] == "answerCallbackQuery"]
    assert answered == [
        {"method": "answerCallbackQuery", "callback_query_id": "cbq-2"},
        {"method": "answerCallbackQuery", "callback_query_id": "cbq-3"},
    ]
    # Feedback is the hub's own business: Rasa saw the request and "more like this" only.
    tg.post(hub, tap(4, SIMILAR_2, title="更多类似"))
    drain(hub)
    assert [seen["message"] for seen in stand_in.rasa_seen] == [ASK, SIMILAR_2]
    # The conversation shows what the customer tapped, not the payload.
    shown = query_hub_db(tmp_path, "SELECT text FROM messages WHERE direction = 'in' ORDER BY id")
    assert [r["text"] for r in shown] == [ASK, "更多类似"]
    # An item that is not in the catalogue (a forged callback) records nothing.
    tg.post(hub, tap(5, "rf:click:NO-SUCH-ITEM"))
    drain(hub)
    assert len(events_of(tmp_path)) == 1
    assert telegram_texts(stand_in)[-1] == LINK_REPLIES["unknown_item"]["zh"]


def test_dingtalk_numbered_choices_and_slack_buttons(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    ding.post(hub, ding.callback("d1", ASK))
    drain(hub)
    listed = stand_in.sent[-1].body["msgParam"]["content"]
    assert "4. 看看详情  5. 不感兴趣  6. 更多类似" in listed
    ding.post(hub, ding.callback("d2", "5"))  # the second card's "Not interested"
    ding.post(hub, ding.callback("d3", "6"))  # the second card's "More like this"
    drain(hub)
    assert events_of(tmp_path) == [(f"dingtalk:user:{ding.STAFF}", "EL-002", "dismiss", "dingtalk")]
    assert stand_in.rasa_seen[-1]["message"] == SIMILAR_2

    envelope = {
        "type": "event_callback",
        "event_id": "Ev1",
        "team_id": "T1",
        "event": {
            "type": "message",
            "channel_type": "im",
            "channel": "D1",
            "user": "U1",
            "text": ASK,
        },
    }
    body = json.dumps(envelope).encode()
    hub.post(
        "/channels/slack/events",
        content=body,
        headers={"content-type": "application/json", **signed(body)},
    )
    drain(hub)
    blocks = stand_in.sent[-1].body["blocks"]
    assert [b["type"] for b in blocks] == ["section", "actions", "section", "actions"]
    assert [e["value"] for e in blocks[3]["elements"]] == [
        "rf:click:EL-002",
        "rf:dismiss:EL-002",
        SIMILAR_2,
    ]
    action = {
        "type": "block_actions",
        "trigger_id": "trig-9",
        "user": {"id": "U1"},
        "channel": {"id": "D1"},
        "actions": [
            {
                "action_id": "choice_4",
                "value": "rf:click:EL-002",
                "text": {"type": "plain_text", "text": "看看详情"},
                "action_ts": "1.2",
            }
        ],
    }
    form = urlencode({"payload": json.dumps(action)}).encode()
    response = hub.post(
        "/channels/slack/interactivity",
        content=form,
        headers={"content-type": "application/x-www-form-urlencoded", **signed(form)},
    )
    assert response.status_code == 200
    drain(hub)
    assert events_of(tmp_path)[-1] == ("slack:D1", "EL-002", "click", "slack")
    assert stand_in.sent[-1].body["text"] == "小米 14 手机: 小米 14 手机，数码电子类商品。"


def link_telegram_and_feishu(hub: TestClient, stand_in: AppStandIn) -> None:
    """The Telegram customer dismisses an item, shares their own number; then writes from Feishu
    (whose directory has the same mobile, in the national form) and asks to link."""
    tg.post(hub, tg.text_update(1, ASK))
    drain(hub)
    tg.post(hub, tap(2, "rf:dismiss:EL-001"))
    tg.post(hub, tg.text_update(3, "绑定手机"))
    drain(hub)
    tg.post(hub, contact(4, user_id=CHAT))
    drain(hub)
    stand_in.directory["ou_customer"] = PHONE_NATIONAL
    lark.post(hub, lark.message_event("e1", "om_1", "绑定"))
    drain(hub)


def test_telegram_contact_and_feishu_directory_link_one_customer(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    link_telegram_and_feishu(hub, stand_in)
    share = [s.body for s in stand_in.sent if "keyboard" in s.body.get("reply_markup", {})]
    assert share == [
        {
            "method": "sendMessage",
            "chat_id": str(CHAT),
            "text": LINK_REPLIES["share_phone"]["zh"],
            "reply_markup": {
                "keyboard": [
                    [{"text": LINK_REPLIES["share_button"]["zh"], "request_contact": True}]
                ],
                "one_time_keyboard": True,
                "resize_keyboard": True,
            },
        }
    ]
    assert telegram_texts(stand_in)[-1] == LINK_REPLIES["linked_alone"]["zh"]
    feishu_said = [
        json.loads(json.dumps(s.body["content"]))["elements"][0]["text"]["content"]
        for s in stand_in.sent
        if s.body.get("msg_type") == "interactive"
    ]
    assert feishu_said == ["已绑定：您在Telegram和当前应用中的对话现在属于同一位客户。"]
    links = links_of(tmp_path)
    assert [key for key, _ in links] == [f"telegram:{CHAT}", f"feishu:{lark.CHAT}"]
    person = links[0][1]
    assert person.startswith("person:")
    assert links[1][1] == person
    # The Telegram identity's events now belong to the person: one profile for both apps.
    assert events_of(tmp_path) == [(person, "EL-001", "dismiss", "telegram")]

    # From Feishu the dialogue is told the person, and a card tap counts for them too.
    lark.post(hub, lark.message_event("e2", "om_2", ASK))
    drain(hub)
    assert stand_in.rasa_seen[-1]["metadata"]["linked_customer"] == person
    assert stand_in.rasa_seen[-1]["metadata"]["customer_key"] == f"feishu:{lark.CHAT}"
    lark.post(hub, feishu_card_tap("e3", "rf:dismiss:EL-002", "不感兴趣"))
    drain(hub)
    assert events_of(tmp_path)[-1] == (person, "EL-002", "dismiss", "feishu")
    profile = query_hub_db(
        tmp_path, "SELECT events FROM recommend_profiles WHERE user_id = ?", (person,)
    )
    assert profile[0]["events"] == 2

    # An agent who takes the Feishu conversation sees the Telegram one in its context.
    services = hub.app.state.services  # type: ignore[attr-defined]
    run = hub.portal.call  # type: ignore[union-attr]
    run(lambda: services.agents.create("olga", PASSWORD, display_name="Olga"))
    conversation = run(services.conversations.find, "feishu", lark.CHAT)
    ticket = run(
        lambda: services.handoffs.request(
            conversation, "customer_request", language="zh", skill="general"
        )
    )
    login = hub.post("/console/api/login", json={"username": "olga", "password": PASSWORD})
    hub.headers["X-CSRF-Token"] = login.cookies["console_csrf"]
    hub.post("/console/api/presence", json={"presence": "online"})
    assert hub.post(f"/console/api/handoffs/{ticket.handoff.id}/accept").status_code == 200
    context = hub.get(f"/console/api/handoffs/{ticket.handoff.id}").json()
    found = context["linked_conversations"]
    assert [(c["channel"], c["messages"][0]["text"]) for c in found] == [("telegram", ASK)]

    # The number itself is stored nowhere: not in the links, the delivery log or the messages.
    with sqlite3.connect(tmp_path / "hub.db") as db:
        dump = "\n".join(db.iterdump())
    assert PHONE_NATIONAL not in dump


def test_wecom_directory_links_to_the_same_person(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    link_telegram_and_feishu(hub, stand_in)
    stand_in.directory[wecom.USER] = "+86 138 0013 8000"
    wecom.post(hub, wecom.text_xml("绑定手机", 9001))
    drain(hub)
    persons = {person for _, person in links_of(tmp_path)}
    assert len(persons) == 1
    assert [key for key, _ in links_of(tmp_path)][-1] == f"wecom:{wecom.USER}"
    said = [s.body["text"]["content"] for s in stand_in.sent if s.body.get("touser") == wecom.USER]
    assert said == ["已绑定：您在Telegram、飞书和当前应用中的对话现在属于同一位客户。"]


def test_someone_elses_contact_and_a_typed_number_never_link(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    tg.post(hub, tg.text_update(1, "hello"))
    tg.post(hub, contact(2, user_id=777))  # a forwarded contact card of someone else
    tg.post(hub, contact(3, user_id=CHAT, phone="not a number"))
    tg.post(hub, tg.text_update(4, f"绑定 {PHONE_NATIONAL}"))
    drain(hub)
    assert links_of(tmp_path) == []
    not_own = LINK_REPLIES["not_own"]["en"]
    assert telegram_texts(stand_in)[1:3] == [not_own, not_own]
    assert [seen["message"] for seen in stand_in.rasa_seen] == ["hello", f"绑定 {PHONE_NATIONAL}"]
    # In a group Telegram offers no share-my-number keyboard: the bot does not ask for one.
    tg.post(hub, tg.text_update(5, "@shop_bot 绑定", chat=-100, chat_type="group"))
    drain(hub)
    to_group = [s.body for s in stand_in.sent if s.body.get("chat_id") == "-100"]
    assert [b["text"] for b in to_group] == [LINK_REPLIES["cannot_vouch"]["zh"]]
    assert "reply_markup" not in to_group[0]
    # A Feishu user without a mobile in the directory is not linked.
    lark.post(hub, lark.message_event("e1", "om_1", "绑定手机"))
    drain(hub)
    assert links_of(tmp_path) == []
    feishu_said = stand_in.sent[-1].body["content"]["elements"][0]["text"]["content"]
    assert feishu_said == LINK_REPLIES["no_phone"]["zh"]
    # An app that cannot vouch for a number says so (Slack).
    envelope = {
        "type": "event_callback",
        "event_id": "Ev2",
        "team_id": "T1",
        "event": {
            "type": "message",
            "channel_type": "im",
            "channel": "D2",
            "user": "U2",
            "text": "link",
        },
    }
    body = json.dumps(envelope).encode()
    hub.post(
        "/channels/slack/events",
        content=body,
        headers={"content-type": "application/json", **signed(body)},
    )
    drain(hub)
    assert links_of(tmp_path) == []
    assert stand_in.sent[-1].body["text"] == LINK_REPLIES["cannot_vouch"]["en"]


def test_export_shows_the_links_and_erasure_removes_them(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    link_telegram_and_feishu(hub, stand_in)
    exported = hub.get(f"/admin/privacy/customers/telegram/{CHAT}/export", headers=ADMIN_AUTH)
    assert exported.status_code == 200
    data = json.loads(zipfile.ZipFile(io.BytesIO(exported.content)).read("data.json"))
    part = data["identity_links"]
    assert part["link"]["verified_by"] == "telegram"
    assert [(i["channel"], i["sender"]) for i in part["linked_identities"]] == [
        ("feishu", lark.CHAT)
    ]
    assert [e["item_id"] for e in part["person_recommendations"]["events"]] == ["EL-001"]

    erased = hub.request(
        "DELETE",
        f"/admin/privacy/customers/telegram/{CHAT}",
        json={"reason": "customer request"},
        headers=ADMIN_AUTH,
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["others"]["identity_links"] == {
        "links": 1,
        "person_events": 1,
        "person_profiles": 1,
    }
    assert [key for key, _ in links_of(tmp_path)] == [f"feishu:{lark.CHAT}"]
    assert events_of(tmp_path) == []
    again = hub.request("DELETE", f"/admin/privacy/customers/telegram/{CHAT}", headers=ADMIN_AUTH)
    assert again.json()["others"]["identity_links"] == {
        "links": 0,
        "person_events": 0,
        "person_profiles": 0,
    }
