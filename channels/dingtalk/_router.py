"""``/channels/dingtalk``: the robot's message receiving address (HTTP mode).

DingTalk signs every callback as it documents for robots: the headers ``timestamp`` (ms) and
``sign`` = base64(HMAC-SHA256(app secret, "timestamp\\nappsecret")). The timestamp must be within
the window (DingTalk allows an hour; the hub's ``BOT_APP_WEBHOOK_WINDOW_S`` is stricter) and
the sign must match, checked with ``hmac.compare_digest``, before the body is read. Hand-written
because the scheme is three lines of the standard library and DingTalk's SDK has no helper for
the receiving side.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Request

from channels.connector import AppConnector, AppMessage, id_at, text_at
from channels.dingtalk._api import GROUP, USER

logger = logging.getLogger(__name__)

PATH = "/channels/dingtalk"


def sign(timestamp: str, app_secret: str) -> str:
    """DingTalk's robot signature of ``timestamp`` (milliseconds, as sent)."""
    digest = hmac.new(
        app_secret.encode(), f"{timestamp}\n{app_secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def build_router(
    connector: AppConnector,
    *,
    app_secret: str,
    window_s: int,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    """The robot's callback route."""
    router = APIRouter(tags=["dingtalk"])

    @router.post(PATH)
    async def receive(
        request: Request,
        timestamp: str = Header(default="", max_length=16),
        signature: str = Header(default="", alias="sign", max_length=128),
    ) -> dict[str, Any]:
        if not timestamp.isdigit():
            raise HTTPException(403, "the timestamp header must be milliseconds since 1970")
        if abs(clock() - int(timestamp) / 1000) > window_s:
            logger.warning("DingTalk callback refused: timestamp outside the %d s window", window_s)
            raise HTTPException(403, f"timestamp is more than {window_s} s from the hub's clock")
        if not hmac.compare_digest(signature.encode(), sign(timestamp, app_secret).encode()):
            logger.warning("DingTalk callback refused: wrong sign")
            raise HTTPException(401, "sign does not match BOT_DINGTALK_APP_SECRET")
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            raise HTTPException(400, "the callback is not JSON") from exc
        if not isinstance(body, dict):
            raise HTTPException(400, "the callback is not a JSON object")
        message = normalize(body)
        if message is not None:
            await connector.accept(message)
        return {}  # the reply comes through the robot API, not in this answer

    return router


def normalize(body: dict[str, Any]) -> AppMessage | None:
    """A robot callback as the contract's ``AppMessage``; None for what the bot ignores (group
    messages that do not @ the robot, unknown types)."""
    msg_id = id_at(body, "msgId")
    if msg_id is None:
        return None
    if body.get("conversationType") == "2":
        if not body.get("isInAtList"):
            return None
        sender = GROUP + (id_at(body, "conversationId") or "")
    else:
        sender = USER + (id_at(body, "senderStaffId") or id_at(body, "senderId") or "")
    if sender in (USER, GROUP):
        return None
    kind = body.get("msgtype")
    # ``staff``: a member of the company (a ``senderStaffId``), whose directory entry can vouch
    # for their mobile; anyone else comes with an opaque ``senderId`` only.
    staff = bool(id_at(body, "senderStaffId")) and body.get("conversationType") != "2"
    nick = text_at(body, "senderNick") or None
    metadata = {"dingtalk": {"sender_nick": nick, "staff": staff}}
    if kind == "text":
        text = text_at(body, "text", "content").strip()
        return AppMessage(msg_id, sender, "text", text=text, metadata=metadata) if text else None
    if kind == "audio":
        # DingTalk sends its own transcript with a voice message when it has one.
        recognition = text_at(body, "content", "recognition").strip()
        if recognition:
            return AppMessage(msg_id, sender, "text", text=recognition)
        return AppMessage(msg_id, sender, "voice", media_id=id_at(body, "content", "downloadCode"))
    if kind == "picture":
        return AppMessage(msg_id, sender, "image", media_id=id_at(body, "content", "downloadCode"))
    if kind == "file":
        return AppMessage(msg_id, sender, "file", media_id=id_at(body, "content", "downloadCode"))
    return None
