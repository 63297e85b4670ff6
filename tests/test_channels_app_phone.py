"""The order check's phone digits answered by a number the app vouches for: Telegram's shared
contact (private chats), the directories of DingTalk (``topapi/v2/user/get``), WeCom and Feishu
after "绑定". Connector pieces on their own, DingTalk's directory against the local stand-in,
the action's offer with rasa-sdk's dispatcher, and signed payloads posted to one hub (real app,
real SQLite) with the stand-in playing Rasa: it asks for the digits as the order form does
(the question, then the action's offer as a message of its own, as Rasa's REST channel splits
them) and records what the hub sends it."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.orders import ActionAskPhoneLast4
from bot.app import Settings, create_app
from bot.outbox import SendFailed
from channels.connector import APP_NAMES, LINK_REPLIES, AppMessage, last_four, offers_phone
from channels.dingtalk import DingTalkApi
from channels.telegram import TelegramApi
from tests import test_channels_dingtalk as ding
from tests import test_channels_feishu as lark
from tests import test_channels_telegram as tg
from tests import test_channels_wecom as wecom
from tests.app_standin import AppStandIn, drain, running
from tests.conftest import query_hub_db
from tests.test_channels_app_links import CHAT, PHONE_E164, PHONE_NATIONAL, contact, links_of
from tests.test_channels_app_links import settings_for as links_settings

ORDER = "YX2611010008"
LOOK_UP = f"查订单{ORDER}"
ASKED = f"为保护您的隐私，请提供订单 {ORDER} 收货手机号的后四位。"
DIGITS = PHONE_NATIONAL[-4:]
VERIFIED = "验证通过，谢谢！"
OFFER = {"share_phone": True}
SHARE_KEYBOARD = {
    "keyboard": [[{"text": LINK_REPLIES["share_button"]["zh"], "request_contact": True}]],
    "one_time_keyboard": True,
    "resize_keyboard": True,
}


def settings_for(var_dir: Path, stand_in: AppStandIn) -> Settings:
    """Every app on, each API (DingTalk's older host too) and Rasa at the stand-in."""
    return links_settings(var_dir, stand_in).model_copy(update={"dingtalk_oapi_url": stand_in.url})


@pytest.fixture
def stand_in() -> Iterator[AppStandIn]:
    with running(AppStandIn()) as server:
        server.rasa_script = {
            LOOK_UP: [{"text": ASKED}, {"custom": OFFER}],
            DIGITS: [{"text": VERIFIED}],
        }
        yield server


@pytest.fixture
def hub(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path, stand_in))) as client:
        yield client


def to_rasa(stand_in: AppStandIn) -> list[str]:
    return [seen["message"] for seen in stand_in.rasa_seen]


def inbound_texts(var_dir: Path) -> list[str]:
    rows = query_hub_db(var_dir, "SELECT text FROM messages WHERE direction = 'in' ORDER BY id")
    return [r["text"] for r in rows]


# ---- connector pieces ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "offered"),
    [
        ({"custom": {"share_phone": True}}, True),
        ({"custom": {"share_phone": "yes"}}, False),
        ({"custom": {"kind": "csat"}}, False),
        ({"custom": "share_phone"}, False),
        ({"buttons": [{"title": "share_phone", "payload": "share_phone"}]}, False),
        (None, False),
    ],
)
def test_only_the_checks_own_payload_is_an_offer(
    payload: dict[str, Any] | None, offered: bool
) -> None:
    assert offers_phone(payload) is offered


@pytest.mark.parametrize(
    ("phone", "digits"),
    [(PHONE_E164, "8000"), ("+86 138-0013-8001", "8001"), ("138", None), ("", None)],
)
def test_last_four_digits_of_a_vouched_number(phone: str, digits: str | None) -> None:
    assert last_four(phone) == digits


async def test_telegram_offers_the_contact_button_in_private_chats_only() -> None:
    async with httpx.AsyncClient() as http:
        api = TelegramApi("http://127.0.0.1:9", tg.BOT_TOKEN, http)
        private = AppMessage(
            "1", str(CHAT), "text", metadata={"telegram": {"chat_type": "private"}}
        )
        group = AppMessage("2", "-100", "text", metadata={"telegram": {"chat_type": "group"}})
        assert api.phone_offer(private) == "contact"
        assert api.phone_offer(group) is None
        assert api.contact_request("hint", "Share") == {
            "method": "sendMessage",
            "text": "hint",
            "reply_markup": {
                "keyboard": [[{"text": "Share", "request_contact": True}]],
                "one_time_keyboard": True,
                "resize_keyboard": True,
            },
        }


# ---- DingTalk's directory against the stand-in -----------------------------------------------


@pytest.fixture
async def dingtalk(stand_in: AppStandIn) -> AsyncIterator[DingTalkApi]:
    async with httpx.AsyncClient() as http:
        yield DingTalkApi(
            stand_in.url, ding.APP_KEY, ding.APP_SECRET, ding.APP_KEY, http, oapi_url=stand_in.url
        )


def ding_message(sender: str = f"user:{ding.STAFF}", *, staff: bool = True) -> AppMessage:
    metadata = {"dingtalk": {"sender_nick": "Li", "staff": staff}}
    return AppMessage("m1", sender, "text", text="绑定", metadata=metadata)


async def test_dingtalk_directory_gives_the_members_mobile_with_its_country_code(
    dingtalk: DingTalkApi, stand_in: AppStandIn
) -> None:
    stand_in.directory[ding.STAFF] = PHONE_NATIONAL
    assert await dingtalk.verified_phone(ding_message()) == PHONE_E164
    assert stand_in.lookups == [("tok-1", {"userid": ding.STAFF, "language": "zh_CN"})]


async def test_dingtalk_directory_refreshes_a_stale_token_once(
    dingtalk: DingTalkApi, stand_in: AppStandIn
) -> None:
    stand_in.directory[ding.STAFF] = PHONE_NATIONAL
    assert await dingtalk.verified_phone(ding_message()) == PHONE_E164
    stand_in.expired_tokens.add("tok-1")  # DingTalk answers errcode 40014 for it now
    assert await dingtalk.verified_phone(ding_message()) == PHONE_E164
    assert [token for token, _ in stand_in.lookups] == ["tok-1", "tok-1", "tok-2"]


async def test_dingtalk_directory_without_the_mobile_or_the_member(
    dingtalk: DingTalkApi, stand_in: AppStandIn
) -> None:
    stand_in.directory[ding.STAFF] = ""  # the app lacks the contact permission for mobiles
    assert await dingtalk.verified_phone(ding_message()) is None
    with pytest.raises(SendFailed, match="60121"):
        await dingtalk.verified_phone(ding_message("user:nobody"))
    # A group's message, or someone who is no member, is never looked up.
    assert await dingtalk.verified_phone(ding_message("group:cid-group")) is None
    assert await dingtalk.verified_phone(ding_message(staff=False)) is None
    assert len(stand_in.lookups) == 2


# ---- the action's offer ----------------------------------------------------------------------


def asking_tracker(**metadata: Any) -> Tracker:
    latest = {"intent": {"name": "inform"}, "entities": [], "text": ORDER, "metadata": metadata}
    events = [{"event": "user", "text": ORDER, "parse_data": latest, "metadata": metadata}]
    slots = {"language": "zh", "order_id": ORDER, "requested_slot": "phone_last4"}
    return Tracker("c-1", slots, latest, events, False, None, {}, None)


ASK_MESSAGE: dict[str, Any] = {
    "text": None,
    "buttons": [],
    "elements": [],
    "custom": {},
    "template": "utter_ask_phone_last4",
    "response": "utter_ask_phone_last4",
    "image": None,
    "attachment": None,
    "order_id": ORDER,
}


@pytest.mark.parametrize(
    ("metadata", "offered"),
    [
        ({"phone_offer": "contact"}, True),
        ({"phone_offer": "directory"}, True),
        ({"phone_offer": "anything"}, False),  # only what the hub's connectors say
        ({}, False),  # web chat, REST, WeChat, Slack, a Telegram group
    ],
)
async def test_the_digits_question_offers_what_the_app_can_vouch_with(
    metadata: dict[str, Any], offered: bool
) -> None:
    dispatcher = CollectingDispatcher()
    assert await ActionAskPhoneLast4().run(dispatcher, asking_tracker(**metadata), {}) == []
    offer = {**ASK_MESSAGE, "template": None, "response": None, "custom": OFFER}
    del offer["order_id"]
    assert dispatcher.messages == ([ASK_MESSAGE, offer] if offered else [ASK_MESSAGE])


# ---- through the hub -----------------------------------------------------------------------


def ask_on_telegram(hub: TestClient, stand_in: AppStandIn) -> None:
    tg.post(hub, tg.text_update(1, LOOK_UP))
    drain(hub)


def test_a_shared_own_contact_answers_the_telegram_order_check_and_links(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    ask_on_telegram(hub, stand_in)
    assert stand_in.rasa_seen[0]["metadata"]["phone_offer"] == "contact"
    assert [s.body for s in stand_in.sent] == [
        {"method": "sendMessage", "chat_id": str(CHAT), "text": ASKED},
        {
            "method": "sendMessage",
            "chat_id": str(CHAT),
            "text": LINK_REPLIES["share_hint"]["zh"],
            "reply_markup": SHARE_KEYBOARD,
        },
    ]
    tg.post(hub, contact(2, user_id=CHAT))
    drain(hub)
    # Linked as "绑定" links, and the number's last four digits went to the dialogue as the
    # answer to the check (validated there as typed digits are).
    assert [key for key, _ in links_of(tmp_path)] == [f"telegram:{CHAT}"]
    assert to_rasa(stand_in) == [LOOK_UP, DIGITS]
    answer = stand_in.rasa_seen[1]["metadata"]
    assert (answer["phone_offer"], answer["language"]) == ("contact", "zh")
    said = [s.body["text"] for s in stand_in.sent[2:]]
    assert said == [LINK_REPLIES["linked_alone"]["zh"], VERIFIED]
    # The conversation keeps what the customer did, not the digits; the number is nowhere.
    assert inbound_texts(tmp_path) == [LOOK_UP, "📱"]
    with sqlite3.connect(tmp_path / "hub.db") as db:
        dump = "\n".join(db.iterdump())
    assert PHONE_NATIONAL not in dump


def test_someone_elses_contact_or_typed_digits_are_treated_as_before(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    ask_on_telegram(hub, stand_in)
    tg.post(hub, contact(2, user_id=777))  # a forwarded card of someone else
    drain(hub)
    assert stand_in.sent[-1].body["text"] == LINK_REPLIES["not_own"]["zh"]
    assert to_rasa(stand_in) == [LOOK_UP]
    assert links_of(tmp_path) == []
    assert "reply_markup" not in stand_in.sent[-1].body  # the keyboard stays: tap it instead
    tg.post(hub, tg.text_update(3, DIGITS))  # typed: the dialogue reads it as it always did
    drain(hub)
    assert to_rasa(stand_in) == [LOOK_UP, DIGITS]
    assert links_of(tmp_path) == []
    assert inbound_texts(tmp_path) == [LOOK_UP, DIGITS]
    # Typed past the share-my-number keyboard: the reply takes it away, once.
    assert stand_in.sent[-1].body["reply_markup"] == {"remove_keyboard": True}
    tg.post(hub, tg.text_update(4, "谢谢"))
    drain(hub)
    assert "reply_markup" not in stand_in.sent[-1].body


def test_a_contact_shared_outside_the_check_only_links(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    tg.post(hub, tg.text_update(1, "hello"))
    drain(hub)
    tg.post(hub, contact(2, user_id=CHAT))
    drain(hub)
    assert to_rasa(stand_in) == ["hello"]
    assert [key for key, _ in links_of(tmp_path)] == [f"telegram:{CHAT}"]
    assert stand_in.sent[-1].body["text"] == LINK_REPLIES["linked_alone"]["en"]


def test_a_telegram_group_is_offered_nothing(hub: TestClient, stand_in: AppStandIn) -> None:
    tg.post(hub, tg.text_update(1, f"@shop_bot {LOOK_UP}", chat=-100, chat_type="group"))
    drain(hub)
    assert "phone_offer" not in stand_in.rasa_seen[0]["metadata"]


def test_dingtalk_link_request_answers_the_check_from_the_directory(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    ding.post(hub, ding.callback("d1", LOOK_UP))
    drain(hub)
    assert stand_in.rasa_seen[0]["metadata"]["phone_offer"] == "directory"
    hint = LINK_REPLIES["directory_hint"]["zh"].format(app=APP_NAMES["dingtalk"][0])
    assert [s.body["msgParam"]["content"] for s in stand_in.sent] == [ASKED, hint]
    stand_in.directory[ding.STAFF] = PHONE_NATIONAL
    ding.post(hub, ding.callback("d2", "绑定"))
    drain(hub)
    assert [key for key, _ in links_of(tmp_path)] == [f"dingtalk:user:{ding.STAFF}"]
    assert to_rasa(stand_in) == [LOOK_UP, DIGITS]
    said = [s.body["msgParam"]["content"] for s in stand_in.sent[2:]]
    assert said == [LINK_REPLIES["linked_alone"]["zh"], VERIFIED]
    assert inbound_texts(tmp_path) == [LOOK_UP, "绑定"]


def test_dingtalk_without_a_directory_mobile_leaves_the_check_to_typed_digits(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    ding.post(hub, ding.callback("d1", LOOK_UP))
    drain(hub)
    stand_in.directory[ding.STAFF] = ""  # no contact permission for mobiles
    ding.post(hub, ding.callback("d2", "绑定"))
    drain(hub)
    assert stand_in.sent[-1].body["msgParam"]["content"] == LINK_REPLIES["no_phone"]["zh"]
    assert to_rasa(stand_in) == [LOOK_UP]
    assert links_of(tmp_path) == []
    # Someone outside the company (no senderStaffId) is offered nothing.
    outsider = ding.callback("d3", LOOK_UP, senderStaffId=None, senderId="$:LWCP_v1:$abc")
    ding.post(hub, outsider)
    drain(hub)
    assert "phone_offer" not in stand_in.rasa_seen[-1]["metadata"]


def test_wecom_and_feishu_answer_the_check_from_their_directories(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    stand_in.directory[wecom.USER] = PHONE_NATIONAL
    stand_in.directory["ou_customer"] = PHONE_E164
    wecom.post(hub, wecom.text_xml(LOOK_UP, 9001))
    drain(hub)
    lark.post(hub, lark.message_event("e1", "om_1", LOOK_UP))
    drain(hub)
    assert [seen["metadata"]["phone_offer"] for seen in stand_in.rasa_seen] == [
        "directory",
        "directory",
    ]
    wecom.post(hub, wecom.text_xml("绑定", 9002))
    drain(hub)
    lark.post(hub, lark.message_event("e2", "om_2", "绑定手机"))
    drain(hub)
    assert to_rasa(stand_in) == [LOOK_UP, LOOK_UP, DIGITS, DIGITS]
    assert len({person for _, person in links_of(tmp_path)}) == 1
    wecom_said = [s.body["text"]["content"] for s in stand_in.sent if s.body.get("touser")]
    hint = LINK_REPLIES["directory_hint"]["zh"].format(app=APP_NAMES["wecom"][0])
    assert wecom_said[:2] == [ASKED, hint]
    assert wecom_said[-1] == VERIFIED
