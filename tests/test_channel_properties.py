"""Property tests on what the messaging apps deliver and on language detection.

Each app's payload is generated in its documented shape (the fields its router reads), with
any field missing, of the right type with arbitrary content, or replaced by any JSON value: a
verified sender's body can still carry what the platform did not expect (an app's new message
type, a field that became an object), and the webhook must answer it with "ignored" rather
than a 500 that makes the app redeliver it for hours. What ``normalize`` gives is either None
or a message the connector can store: non-empty string ids and sender, string text, payload
and media id. WeChat and WeCom bodies go through wechatpy's own XML parser, as in the router.
"""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape

from hypothesis import example, given
from hypothesis import strategies as st
from wechatpy import parse_message

from bot.language import detect_language
from channels.connector import AppMessage
from channels.dingtalk._router import normalize as dingtalk
from channels.feishu._router import normalize as feishu
from channels.slack._router import normalize_action as slack_action
from channels.slack._router import normalize_event as slack_event
from channels.telegram._router import normalize as telegram
from channels.wechat._router import normalize as wechat
from channels.wecom._router import normalize as wecom

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
TEXT = st.text(max_size=30)
ID = st.text(min_size=1, max_size=12)


def shaped(template: Any) -> st.SearchStrategy[Any]:
    """``template`` (a dict of field → template, or a strategy), each field present or not, and
    when present either the shape or any JSON value."""
    if isinstance(template, st.SearchStrategy):
        return template
    if isinstance(template, list):
        return st.lists(shaped(template[0]), max_size=2)
    optional = {key: st.one_of(shaped(value), JSON) for key, value in template.items()}
    return st.fixed_dictionaries({}, optional=optional)


def assert_storable(message: AppMessage | None) -> None:
    if message is None:
        return
    assert isinstance(message, AppMessage)
    assert isinstance(message.message_id, str)
    assert message.message_id
    assert isinstance(message.sender, str)
    assert message.sender
    assert isinstance(message.text, str)
    assert message.payload is None or isinstance(message.payload, str)
    assert message.media_id is None or isinstance(message.media_id, str)
    assert message.choice is None or isinstance(message.choice, int)
    json.dumps(message.as_json())  # the connector stores it as JSON


TELEGRAM_CHAT = {"id": st.integers(), "type": st.sampled_from(["private", "group"])}
TELEGRAM_MESSAGE = {
    "chat": TELEGRAM_CHAT,
    "from": {"id": st.integers()},
    "text": TEXT,
    "caption": TEXT,
    "contact": {"user_id": st.integers(), "phone_number": TEXT},
    "voice": {"file_id": ID},
    "audio": {"file_id": ID},
    "photo": [{"file_id": ID}],
    "document": {"file_id": ID},
}
TELEGRAM = {
    "message": TELEGRAM_MESSAGE,
    "callback_query": {
        "id": ID,
        "data": TEXT,
        "message": {
            "chat": TELEGRAM_CHAT,
            "reply_markup": {"inline_keyboard": [[{"text": TEXT, "callback_data": TEXT}]]},
        },
    },
}


@given(st.integers(), shaped(TELEGRAM), st.none() | st.just("shop_bot"))
def test_a_telegram_update_is_a_message_or_ignored(
    update_id: int, update: dict[str, Any], bot_username: str | None
) -> None:
    # The router refuses an update without an integer update_id before this.
    assert_storable(telegram({**update, "update_id": update_id}, bot_username))


DINGTALK = {
    "msgId": ID,
    "conversationType": st.sampled_from(["1", "2"]),
    "isInAtList": st.booleans(),
    "conversationId": ID,
    "senderStaffId": ID,
    "senderId": ID,
    "senderNick": TEXT,
    "msgtype": st.sampled_from(["text", "audio", "picture", "file", "richText"]),
    "text": {"content": TEXT},
    "content": {"recognition": TEXT, "downloadCode": ID},
}


@given(shaped(DINGTALK))
def test_a_dingtalk_callback_is_a_message_or_ignored(body: dict[str, Any]) -> None:
    assert_storable(dingtalk(body))


def _feishu_content() -> st.SearchStrategy[str]:
    fields = {"text": TEXT, "image_key": ID, "file_key": ID}
    return shaped(fields).map(json.dumps) | TEXT


FEISHU = {
    "header": {
        "event_id": ID,
        "event_type": st.sampled_from(["im.message.receive_v1", "card.action.trigger", "x"]),
    },
    "event": {
        "action": {"value": {"payload": TEXT, "title": TEXT}},
        "context": {"open_chat_id": ID},
        "message": {
            "chat_id": ID,
            "message_id": ID,
            "chat_type": st.sampled_from(["p2p", "group"]),
            "mentions": [{"key": ID}],
            "message_type": st.sampled_from(["text", "image", "audio", "file", "post"]),
            "content": _feishu_content(),
        },
        "sender": {"sender_id": {"open_id": ID}},
    },
}


@given(shaped(FEISHU))
def test_a_feishu_event_is_a_message_or_ignored(event: dict[str, Any]) -> None:
    assert_storable(feishu(event))


SLACK_EVENT = {
    "type": st.sampled_from(["event_callback", "url_verification"]),
    "event_id": ID,
    "team_id": ID,
    "event": {
        "type": st.sampled_from(["message", "app_mention", "reaction_added"]),
        "subtype": st.sampled_from(["file_share", "message_changed"]),
        "bot_id": ID,
        "channel": ID,
        "channel_type": st.sampled_from(["im", "channel"]),
        "user": ID,
        "text": TEXT,
        "files": [{"id": ID, "mimetype": st.sampled_from(["image/png", "audio/mp4", "x/y"])}],
    },
}
SLACK_ACTION = {
    "type": st.sampled_from(["block_actions", "view_submission"]),
    "trigger_id": ID,
    "channel": {"id": ID},
    "user": {"id": ID},
    "actions": [{"value": TEXT, "action_ts": ID, "text": {"text": TEXT}}],
}


@given(shaped(SLACK_EVENT))
def test_a_slack_event_is_a_message_or_ignored(envelope: dict[str, Any]) -> None:
    assert_storable(slack_event(envelope))


@given(shaped(SLACK_ACTION))
def test_a_slack_button_tap_is_a_message_or_ignored(payload: dict[str, Any]) -> None:
    assert_storable(slack_action(payload))


# WeChat's and WeCom's XML: every field a string (XML has no other type), any of them absent.
XML_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20).filter(
    lambda s: s == s.strip()
)
WECHAT_FIELDS = {
    "ToUserName": XML_TEXT,
    "FromUserName": XML_TEXT,
    "CreateTime": st.one_of(st.integers(0, 2**31).map(str), XML_TEXT),
    "MsgId": st.one_of(st.integers(0, 2**63).map(str), XML_TEXT),
    "Content": XML_TEXT,
    "bizmsgmenuid": XML_TEXT,
    "Recognition": XML_TEXT,
    "MediaId": XML_TEXT,
    "Format": XML_TEXT,
    "Label": XML_TEXT,
    "Title": XML_TEXT,
    "Url": XML_TEXT,
    "Event": st.sampled_from(["click", "subscribe", "CLICK"]),
    "EventKey": XML_TEXT,
    "AgentID": XML_TEXT,
    "Location_X": st.one_of(st.floats(-90, 90).map(str), XML_TEXT),
    "Location_Y": st.one_of(st.floats(-180, 180).map(str), XML_TEXT),
    "Scale": XML_TEXT,
}


def _xml(fields: dict[str, str]) -> str:
    return "<xml>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items()) + "</xml>"


# MsgType is the one field wechatpy's parser needs (without it the router answers 400).
MSG_TYPE = st.sampled_from(
    ["text", "voice", "image", "video", "shortvideo", "location", "link", "event", "file"]
)


@given(st.fixed_dictionaries({"MsgType": MSG_TYPE}, optional=WECHAT_FIELDS))
@example({"FromUserName": "o1", "MsgType": "text", "MsgId": "not-a-number", "Content": "hi"})
@example({"FromUserName": "o1", "MsgType": "text", "CreateTime": "soon", "Content": "hi"})
def test_a_wechat_or_wecom_message_is_a_message_or_ignored(fields: dict[str, str]) -> None:
    message = parse_message(_xml(fields))  # the router answers 400 when this raises
    assert_storable(wechat(message))
    assert_storable(wecom(message))


@given(st.text(), st.sampled_from([None, "zh", "en"]))
def test_language_detection_always_answers_zh_en_or_the_previous(text: str, previous: Any) -> None:
    detected = detect_language(text, previous)
    assert detected in ("zh", "en", previous)


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1))
def test_chinese_characters_alone_are_chinese(text: str) -> None:
    assert detect_language(text, "en") == "zh"


@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2), min_size=1))
def test_latin_words_alone_are_english(words: list[str]) -> None:
    assert detect_language(" ".join(words), "zh") == "en"
