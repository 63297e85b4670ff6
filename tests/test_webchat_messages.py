"""Stored messages as the Rasa web-chat widgets expect them (``bot_uttered``) and as our widget
reads its history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.conversations import StoredMessage
from channels.webchat import bot_uttered, history_item

AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CAROUSEL = {
    "type": "template",
    "payload": {
        "template_type": "generic",
        "elements": [
            {"title": "无线蓝牙耳机", "subtitle": "¥299", "image_url": "https://img.example/1.png",
             "buttons": [{"type": "postback", "title": "买这个", "payload": "/buy{\"sku\":\"EL-005\"}"}]},
            {"title": "智能手机", "subtitle": "¥2,499", "buttons": []},
        ],
    },
}  # fmt: skip


def message(text: str, payload: dict[str, Any] | None, author: str = "bot") -> StoredMessage:
    return StoredMessage(42, "c1", "out", author, text, payload, "zh", AT)


@pytest.mark.parametrize(
    ("stored", "uttered"),
    [
        (
            message("您好", None),
            {"text": "您好", "message_id": 42, "author": "bot", "created_at": AT.isoformat()},
        ),
        (
            message("满意吗？", {"buttons": [{"title": "5", "payload": "5"}], "custom": {"kind": "csat"}}, "system"),
            {"text": "满意吗？", "message_id": 42, "author": "system", "created_at": AT.isoformat(),
             "quick_replies": [{"content_type": "text", "title": "5", "payload": "5"}],
             "custom": {"kind": "csat"}},
        ),
        (
            message("", {"image": "https://img.example/a.png"}),
            {"text": "", "message_id": 42, "author": "bot", "created_at": AT.isoformat(),
             "attachment": {"type": "image", "payload": {"src": "https://img.example/a.png"}}},
        ),
        (
            # Domain responses send carousels as custom payloads, the way rasa-webchat wants them.
            message("为您推荐：", {"custom": {"attachment": CAROUSEL}}),
            {"text": "为您推荐：", "message_id": 42, "author": "bot", "created_at": AT.isoformat(),
             "attachment": CAROUSEL},
        ),
        (
            message("我来帮您", {"agent": "小王"}, "agent"),
            {"text": "我来帮您", "message_id": 42, "author": "agent", "created_at": AT.isoformat(),
             "agent_name": "小王"},
        ),
    ],
)  # fmt: skip
def test_bot_uttered(stored: StoredMessage, uttered: dict[str, Any]) -> None:
    assert bot_uttered(stored) == uttered


def test_history_of_a_voice_message_carries_what_was_heard() -> None:
    media = {"attachment_id": "a1", "kind": "audio", "text": "我想退货", "language": "zh"}
    stored = StoredMessage(
        7, "c1", "in", "customer", "我想退货", {"media": media, "client_message_id": "x1"}, "zh", AT
    )
    assert history_item(stored) == {
        "direction": "in",
        "message_id": 7,
        "text": "我想退货",
        "created_at": AT.isoformat(),
        "client_message_id": "x1",
        "media": media,
    }
