"""The Rasa web-chat protocol's messages, built from stored messages.

``bot_uttered`` carries what the rasa-webchat and chatroom widgets render: ``text``,
``quick_replies`` (Rasa's socket.io channel sends buttons under that name), and ``attachment``
(an image, or a ``template`` of cards / a carousel, which domain responses send as
``custom: {attachment: ...}``). Extra keys (``message_id``, ``author``) serve our own widget;
other widgets ignore them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.conversations import StoredMessage
from bot.language import Language, detect_language

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_CUSTOM_DATA_BYTES = 4096

ERRORS: dict[str, dict[str, str]] = {
    "empty": {"zh": "消息是空的，请输入内容后再发送。", "en": "The message is empty."},
    "too_long": {
        "zh": "消息太长了，请分几次发送。",
        "en": "The message is too long; please split it into shorter ones.",
    },
    "unavailable": {
        "zh": "助手暂时无法回复，您的消息已保存，请稍后再发一次。",
        "en": "The assistant cannot answer right now. Your message was saved; "
        "please send it again in a moment.",
    },
    "rate_limited": {
        "zh": "您发送得太频繁了，请稍等片刻再试。已发送的消息都已保存。",
        "en": "You are sending too fast; please wait a moment and try again. "
        "Everything you sent before is saved.",
    },
    "no_session": {
        "zh": "会话已失效，请刷新页面。",
        "en": "The chat session is not valid; please reload the page.",
    },
}


def bot_uttered(message: StoredMessage) -> dict[str, Any]:
    """A stored outbound message as the widgets expect it."""
    payload = message.payload or {}
    out: dict[str, Any] = {
        "text": message.text,
        "message_id": message.id,
        "author": message.author,
        "created_at": message.created_at.isoformat(),
    }
    if message.author == "agent" and payload.get("agent"):
        out["agent_name"] = payload["agent"]
    buttons = payload.get("buttons") or []
    if buttons:
        out["quick_replies"] = [
            {"content_type": "text", "title": b.get("title", ""), "payload": b.get("payload", "")}
            for b in buttons
            if isinstance(b, dict)
        ]
    custom = dict(payload.get("custom") or {})
    attachment = custom.pop("attachment", None)
    if attachment is None and payload.get("attachment"):
        attachment = payload["attachment"]
    if attachment is None and payload.get("image"):
        attachment = {"type": "image", "payload": {"src": payload["image"]}}
    if attachment is not None:
        out["attachment"] = attachment
    if custom:
        out["custom"] = custom
    return out


def history_item(message: StoredMessage) -> dict[str, Any]:
    """A stored message of either direction, for our widget's history after a reload."""
    if message.direction == "out":
        return {"direction": "out", **bot_uttered(message)}
    payload = message.payload or {}
    media = payload.get("media") if isinstance(payload.get("media"), dict) else None
    return {
        "direction": "in",
        "message_id": message.id,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
        "client_message_id": payload.get("client_message_id"),
        "media": media,
    }


def custom_data(value: Any) -> dict[str, Any]:
    """The widget's ``customData`` as metadata: a small JSON object, else nothing."""
    if not isinstance(value, dict):
        return {}
    try:
        encoded = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return {}
    if len(encoded.encode()) > MAX_CUSTOM_DATA_BYTES:
        return {}
    parsed: dict[str, Any] = json.loads(encoded)
    return parsed


def language_of(text: str, custom: dict[str, Any], default: Language) -> Language:
    """The language to answer an error in: the widget's, else the text's, else the default."""
    given = custom.get("language")
    if given in ("zh", "en"):
        return "zh" if given == "zh" else "en"
    return detect_language(text, previous=default) or default


def error_utterance(reason: str, language: Language, detail: str) -> dict[str, Any]:
    """A ``bot_uttered`` that tells the customer why their message was not answered."""
    return {
        "text": ERRORS[reason][language],
        "author": "system",
        "error": {"reason": reason, "detail": detail},
    }
