"""``/channels/wechat``: the Official Account's server URL (verification and every message).

Checked before anything else: the timestamp is inside the window (a captured request replayed
later is refused), the ``signature`` matches the Token, and in safe mode ``msg_signature`` matches
the encrypted body, which wechatpy then decrypts. A refused request is logged without its body and
leaves nothing stored. An accepted message is answered ``success`` at once; the bot's reply goes
through the customer-service message API (the passive reply would have to come within 5 s).
A template message's job-finished event (``TEMPLATESENDJOBFINISH``: WeChat's message id and
"success" or "failed:…") goes to ``template_finished`` when the wiring gives one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from channels.connector import AppConnector, AppMessage

logger = logging.getLogger(__name__)

PATH = "/channels/wechat"
SUCCESS = PlainTextResponse("success")


def build_router(
    connector: AppConnector,
    *,
    token: str,
    crypto: WeChatCrypto | None,
    window_s: int,
    clock: Callable[[], float] = time.time,
    template_finished: Callable[[int, str], Awaitable[None]] | None = None,
) -> APIRouter:
    """The webhook routes; ``crypto`` set: safe mode (every message AES-encrypted);
    ``template_finished`` hears each template message's delivery (message id, status)."""
    router = APIRouter(tags=["wechat"])

    def verify(signature: str, timestamp: str, nonce: str) -> None:
        try:
            sent = int(timestamp)
        except ValueError:
            raise HTTPException(403, "timestamp must be whole seconds since 1970") from None
        if abs(clock() - sent) > window_s:
            logger.warning("WeChat webhook refused: timestamp outside the %d s window", window_s)
            raise HTTPException(403, f"timestamp is more than {window_s} s from the hub's clock")
        try:
            check_signature(token, signature, timestamp, nonce)
        except InvalidSignatureException:
            logger.warning("WeChat webhook refused: wrong signature")
            raise HTTPException(401, "signature does not match BOT_WECHAT_TOKEN") from None

    @router.get(PATH, response_class=PlainTextResponse)
    async def verify_server(
        signature: str = Query(max_length=64),
        timestamp: str = Query(max_length=16),
        nonce: str = Query(max_length=64),
        echostr: str = Query(max_length=512),
    ) -> str:
        """WeChat checks the server URL once: echo ``echostr`` when the signature matches."""
        verify(signature, timestamp, nonce)
        return echostr

    @router.post(PATH, response_class=PlainTextResponse)
    async def receive(
        request: Request,
        signature: str = Query(max_length=64),
        timestamp: str = Query(max_length=16),
        nonce: str = Query(max_length=64),
        encrypt_type: str | None = Query(default=None, max_length=16),
        msg_signature: str | None = Query(default=None, max_length=64),
    ) -> PlainTextResponse:
        verify(signature, timestamp, nonce)
        body = await request.body()
        if crypto is not None:
            if encrypt_type != "aes" or not msg_signature:
                raise HTTPException(
                    401, "safe mode: send encrypt_type=aes and msg_signature with the message"
                )
            try:
                xml = crypto.decrypt_message(body, msg_signature, timestamp, nonce)
            except (InvalidSignatureException, InvalidAppIdException):
                logger.warning("WeChat webhook refused: wrong msg_signature or AppID")
                raise HTTPException(401, "msg_signature does not match the message") from None
            except Exception as exc:  # any undecryptable body is the sender's fault
                raise HTTPException(400, "the message is not WeChat's encrypted XML") from exc
        else:
            xml = body.decode("utf-8", errors="replace")
        try:
            message = parse_message(xml)
        except Exception as exc:  # xmltodict and wechatpy raise many kinds
            raise HTTPException(400, "the message is not WeChat's XML") from exc
        finished = template_job(message)
        if finished is not None:
            if template_finished is not None:
                await template_finished(*finished)
            return SUCCESS
        normalized = normalize(message)
        if normalized is not None:
            await connector.accept(normalized)
        return SUCCESS

    return router


def template_job(message: Any) -> tuple[int, str] | None:
    """A template message's job-finished event as (WeChat's message id, status); None for any
    other message (a repeat of the event, WeChat retrying, changes nothing downstream)."""
    if getattr(message, "type", None) != "event" or message.event != "templatesendjobfinish":
        return None
    raw = getattr(message, "_data", None) or {}
    msg_id, status = str(raw.get("MsgID") or "").strip(), str(raw.get("Status") or "").strip()
    if not msg_id.isdigit() or not status:
        return None
    return int(msg_id), status


def normalize(message: Any) -> AppMessage | None:
    """A parsed WeChat message as the contract's ``AppMessage``; None for events the bot ignores."""
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
        menu = raw.get("bizmsgmenuid")
        choice = int(menu) if isinstance(menu, str) and menu.isdigit() else None
        return AppMessage(key, sender, "text", text=message.content or "", choice=choice)
    if kind == "voice":
        # With speech recognition switched on for the account, WeChat sends its own transcript.
        if message.recognition:
            metadata = {"voice": {"recognized_by": "wechat", "media_id": message.media_id}}
            return AppMessage(key, sender, "text", text=message.recognition, metadata=metadata)
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
    if kind == "event" and message.event == "click" and message.key:
        # A tap on the account's own menu: its key is the dialogue payload ("/intent").
        return AppMessage(key, sender, "payload", text=str(message.key), payload=str(message.key))
    return None
