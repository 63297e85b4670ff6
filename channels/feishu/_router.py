"""``/channels/feishu``: the app's event subscription URL (encrypted events, v2 schema).

Feishu encrypts every event with the app's Encrypt Key (AES-256-CBC; lark-oapi's ``AESCipher``
decrypts) and signs it: ``X-Lark-Signature`` = sha256(timestamp + nonce + encrypt key + body),
compared in constant time after the timestamp is checked against the window. The URL check
(``url_verification``) carries no signature headers: it must show the Verification Token, as
must every event. A refused request is logged without its body and leaves nothing stored.

Read receipts: Feishu sends ``im.message.message_read_v1`` when a customer reads a message the
bot sent them in a one-to-one chat (``event.reader``, and ``event.message_id_list``: the
``message_id`` values the send API answered). Verified and decrypted as every event, it goes to
``messages_read`` (the wiring marks those messages read, once). Feishu sends it only to an app
whose business has, in the developer console (开发者后台): the bot ability on; under "Events &
Callbacks" (事件与回调) → "Event configuration", the event "Message read" (消息已读,
``im.message.message_read_v1``, in "Messenger" / 消息与群组) added to this request URL; and one
of the permissions ``im:message`` or ``im:message:readonly``, with a new app version
published. Group messages have no such event. Documented (the event's fields and the
subscription it needs) at
https://open.larksuite.com/document/server-docs/im-v1/message/events/message_read
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from channels.connector import AppConnector, AppMessage, Kind, id_at, member, object_at, text_at

logger = logging.getLogger(__name__)

PATH = "/channels/feishu"
MENTION = re.compile(r"@_user_\d+")
READ_EVENT = "im.message.message_read_v1"
MAX_READ_IDS = 1000  # message ids taken from one read event; Feishu sends far fewer

# The wiring's handler of read receipts: (Feishu's message ids, when they were read).
MessagesRead = Callable[[list[str], datetime | None], Awaitable[object]]


class BadReadEvent(ValueError):
    """A message-read event that lacks the fields Feishu documents for it."""


def build_router(
    connector: AppConnector,
    *,
    encrypt_key: str,
    verification_token: str,
    window_s: int,
    clock: Callable[[], float] = time.time,
    messages_read: MessagesRead | None = None,
) -> APIRouter:
    """The event subscription route of one Feishu app; ``messages_read`` hears the message
    ids of each verified message-read event (without it those events are acknowledged and
    dropped)."""
    # Imported here: importing lark-oapi loads every API model of the SDK (about 5 s of CPU),
    # which every process and command would pay on start even with Feishu not configured.
    from lark_oapi.core.utils import AESCipher

    router = APIRouter(tags=["feishu"])
    cipher = AESCipher(encrypt_key)

    def token_matches(given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(
            given.encode(), verification_token.encode()
        )

    @router.post(PATH)
    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            sealed = json.loads(body)
            event = json.loads(cipher.decrypt_str(sealed["encrypt"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise HTTPException(400, "the event is not Feishu's encrypted JSON") from exc
        if not isinstance(event, dict):
            raise HTTPException(400, "the event is not a JSON object")
        if event.get("type") == "url_verification":
            if not token_matches(event.get("token")):
                raise HTTPException(401, "the token does not match BOT_FEISHU_VERIFICATION_TOKEN")
            return JSONResponse({"challenge": str(event.get("challenge", ""))})
        verify(request, body)
        header = event.get("header") if isinstance(event.get("header"), dict) else {}
        if not token_matches((header or {}).get("token")):
            logger.warning("Feishu event refused: wrong verification token")
            raise HTTPException(401, "the token does not match BOT_FEISHU_VERIFICATION_TOKEN")
        if member(event, "header", "event_type") == READ_EVENT:
            try:
                read, at = read_receipt(event)
            except BadReadEvent as exc:
                logger.warning("Feishu message-read event refused: %s", exc)
                raise HTTPException(400, str(exc)) from exc
            if messages_read is not None:
                await messages_read(read, at)
            return JSONResponse({})
        message = normalize(event)
        if message is not None:
            await connector.accept(message)
        return JSONResponse({})

    def verify(request: Request, body: bytes) -> None:
        timestamp = request.headers.get("X-Lark-Request-Timestamp", "")
        nonce = request.headers.get("X-Lark-Request-Nonce", "")
        signature = request.headers.get("X-Lark-Signature", "")
        if not timestamp.isdigit() or abs(clock() - int(timestamp)) > window_s:
            logger.warning("Feishu event refused: timestamp outside the %d s window", window_s)
            raise HTTPException(403, f"timestamp is more than {window_s} s from the hub's clock")
        expected = hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            logger.warning("Feishu event refused: wrong signature")
            raise HTTPException(401, "X-Lark-Signature does not match BOT_FEISHU_ENCRYPT_KEY")

    return router


def read_receipt(event: dict[str, Any]) -> tuple[list[str], datetime | None]:
    """A ``im.message.message_read_v1`` event's message ids and read time (None when it has
    none in milliseconds); ``BadReadEvent`` names the field that is not as documented."""
    ids = member(event, "event", "message_id_list")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise BadReadEvent(
            "a message-read event needs event.message_id_list: a list of message ids"
        )
    if not id_at(event, "event", "reader", "reader_id", "open_id"):
        raise BadReadEvent("a message-read event needs event.reader.reader_id.open_id")
    stamp = text_at(event, "event", "reader", "read_time")
    at = None
    if stamp.isdigit() and len(stamp) <= 15:  # milliseconds; longer is no time Feishu sends
        at = datetime.fromtimestamp(int(stamp) / 1000, UTC)
    return list(dict.fromkeys(ids))[:MAX_READ_IDS], at


# A media message's type → the contract's kind and the content field holding its key.
_MEDIA: dict[str, tuple[Kind, str]] = {
    "image": ("image", "image_key"),
    "audio": ("voice", "file_key"),
    "file": ("file", "file_key"),
}


def normalize(event: dict[str, Any]) -> AppMessage | None:
    """A v2 event as the contract's ``AppMessage``: a message to the bot (groups: only when it is
    mentioned), or a tap on a card button; None for anything else (and for fields of another
    type than Feishu documents)."""
    event_id, kind = id_at(event, "header", "event_id"), member(event, "header", "event_type")
    body = event.get("event")
    if not event_id or not isinstance(body, dict):
        return None
    if kind == "card.action.trigger":
        chat = id_at(body, "context", "open_chat_id")
        payload = text_at(body, "action", "value", "payload")
        if not chat or not payload:
            return None
        title = text_at(body, "action", "value", "title") or payload
        return AppMessage(event_id, chat, "payload", text=title, payload=payload)
    if kind != "im.message.receive_v1":
        return None
    message = object_at(body, "message")
    chat, message_id = id_at(message, "chat_id"), id_at(message, "message_id")
    if not chat or not message_id:
        return None
    if message.get("chat_type") == "group" and not message.get("mentions"):
        return None
    try:
        content = json.loads(text_at(message, "content") or "{}")
    except ValueError:
        return None
    # The message id, not the event id: Feishu's redeliveries of one message share it.
    key, sender = message_id, chat
    kind = message.get("message_type")
    if kind == "text":
        text = MENTION.sub("", text_at(content, "text")).strip()
        # Who wrote (their open_id): the contact API gives their verified mobile for a link.
        open_id = id_at(body, "sender", "sender_id", "open_id")
        chat_type = text_at(message, "chat_type") or None
        metadata = {"feishu": {"open_id": open_id, "chat_type": chat_type}}
        return AppMessage(key, sender, "text", text=text, metadata=metadata) if text else None
    if isinstance(kind, str) and kind in _MEDIA:
        media_kind, field = _MEDIA[kind]
        media_key = id_at(content, field)
        if media_key:
            return AppMessage(key, sender, media_kind, media_id=f"{message_id}/{media_key}")
    return None
