"""``/channels/wecom``: the customer-service app's callback URL (verification and messages).

Checked before anything else: the timestamp is inside the window, then ``msg_signature`` over
the encrypted part, which wechatpy's WeCom crypto decrypts (and whose CorpID it checks). A
refused request is logged without its body and leaves nothing stored; an accepted message is
answered at once and the reply sent through the app-message API.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from wechatpy.enterprise import parse_message
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException
from wechatpy.exceptions import InvalidSignatureException

from channels.connector import AppConnector, AppMessage

logger = logging.getLogger(__name__)

PATH = "/channels/wecom"


def build_router(
    connector: AppConnector,
    *,
    crypto: WeChatCrypto,
    agent_id: str,
    window_s: int,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    """The callback routes of one WeCom app."""
    router = APIRouter(tags=["wecom"])

    def in_window(timestamp: str) -> None:
        try:
            sent = int(timestamp)
        except ValueError:
            raise HTTPException(403, "timestamp must be whole seconds since 1970") from None
        if abs(clock() - sent) > window_s:
            logger.warning("WeCom callback refused: timestamp outside the %d s window", window_s)
            raise HTTPException(403, f"timestamp is more than {window_s} s from the hub's clock")

    @router.get(PATH, response_class=PlainTextResponse)
    async def verify_url(
        msg_signature: str = Query(max_length=64),
        timestamp: str = Query(max_length=16),
        nonce: str = Query(max_length=64),
        echostr: str = Query(max_length=1024),
    ) -> str:
        """WeCom checks the callback URL: answer the decrypted ``echostr``."""
        in_window(timestamp)
        try:
            return str(crypto.check_signature(msg_signature, timestamp, nonce, echostr))
        except (InvalidSignatureException, InvalidCorpIdException):
            logger.warning("WeCom URL check refused: wrong msg_signature or CorpID")
            raise HTTPException(401, "msg_signature does not match BOT_WECOM_TOKEN") from None
        except Exception as exc:  # any undecryptable echostr is the sender's fault
            raise HTTPException(400, "echostr is not WeCom's encrypted text") from exc

    @router.post(PATH, response_class=PlainTextResponse)
    async def receive(
        request: Request,
        msg_signature: str = Query(max_length=64),
        timestamp: str = Query(max_length=16),
        nonce: str = Query(max_length=64),
    ) -> str:
        in_window(timestamp)
        body = await request.body()
        try:
            xml = crypto.decrypt_message(body, msg_signature, timestamp, nonce)
        except (InvalidSignatureException, InvalidCorpIdException):
            logger.warning("WeCom callback refused: wrong msg_signature or CorpID")
            raise HTTPException(401, "msg_signature does not match the message") from None
        except Exception as exc:  # any undecryptable body is the sender's fault
            raise HTTPException(400, "the message is not WeCom's encrypted XML") from exc
        try:
            message = parse_message(xml)
        except Exception as exc:  # xmltodict and wechatpy raise many kinds
            raise HTTPException(400, "the message is not WeCom's XML") from exc
        if str(getattr(message, "agent", "")) != agent_id:
            logger.warning("WeCom callback for another app (AgentID) ignored")
            return ""
        normalized = normalize(message)
        if normalized is not None:
            await connector.accept(normalized)
        return ""  # WeCom takes an empty answer as "received"

    return router


def normalize(message: Any) -> AppMessage | None:
    """A parsed WeCom message as the contract's ``AppMessage``; None for what the bot ignores."""
    sender = str(message.source or "")
    if not sender:
        return None
    kind = message.type
    # The raw fields, not wechatpy's typed ``id`` and ``create_time``: those convert on access
    # and raise on a MsgId or CreateTime that is not a number.
    raw = getattr(message, "_data", None) or {}
    msg_id = str(raw.get("MsgId") or "").strip()
    key = msg_id or f"{sender}:{str(raw.get('CreateTime') or '').strip()}:{kind}"
    if kind == "text":
        return AppMessage(key, sender, "text", text=message.content or "")
    if kind == "voice":
        return AppMessage(
            key, sender, "voice", media_id=message.media_id, media_format=message.format
        )
    if kind == "image":
        return AppMessage(key, sender, "image", media_id=message.media_id)
    if kind in ("video", "shortvideo"):
        return AppMessage(key, sender, "file", media_id=message.media_id)
    if kind == "location":
        return AppMessage(key, sender, "text", text=f"[位置] {message.label or ''}".strip())
    if kind == "link":
        return AppMessage(key, sender, "text", text=f"{message.title} {message.url}".strip())
    return None
