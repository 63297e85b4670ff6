"""``/channels/telegram``: the bot's webhook (``setWebhook`` with a ``secret_token``).

Telegram sends the secret in ``X-Telegram-Bot-Api-Secret-Token``; a request without it, or with
another, is refused before its body is read and leaves nothing stored. The update id is the
de-duplication key (Telegram redelivers an update until the webhook answers 2xx). A shared
contact whose ``user_id`` is the sender's own is a verified phone number (it links the customer's
apps); anyone else's contact is refused.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Request

from channels.connector import AppConnector, AppMessage, id_at, member, object_at, text_at
from channels.telegram._api import CHOICE_PREFIX

logger = logging.getLogger(__name__)

PATH = "/channels/telegram"


def build_router(
    connector: AppConnector, *, secret_token: str, bot_username: str | None
) -> APIRouter:
    """The webhook route; in groups the bot answers only when ``@bot_username`` is mentioned."""
    router = APIRouter(tags=["telegram"])

    @router.post(PATH)
    async def receive(
        request: Request,
        secret: str | None = Header(default=None, alias="X-Telegram-Bot-Api-Secret-Token"),
    ) -> dict[str, bool]:
        if secret is None or not hmac.compare_digest(secret.encode(), secret_token.encode()):
            logger.warning("Telegram webhook refused: wrong or missing secret token")
            raise HTTPException(401, "X-Telegram-Bot-Api-Secret-Token does not match")
        try:
            update = json.loads(await request.body())
        except ValueError as exc:
            raise HTTPException(400, "the update is not JSON") from exc
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            raise HTTPException(400, "the update has no update_id")
        message = normalize(update, bot_username)
        if message is not None:
            await connector.accept(message)
        query = update.get("callback_query")
        if isinstance(query, dict) and isinstance(query.get("id"), str) and message is not None:
            # Stops the spinner on the tapped button; through the outbox like every send.
            await connector.send_direct(
                message.sender,
                {"method": "answerCallbackQuery", "callback_query_id": query["id"]},
                source_id=f"callback:{query['id']}",
            )
        return {"ok": True}

    return router


def normalize(update: dict[str, Any], bot_username: str | None) -> AppMessage | None:
    """An update as the contract's ``AppMessage``; None for what the bot does not answer (and for
    fields of another type than Telegram documents)."""
    key = str(update["update_id"])
    query = update.get("callback_query")
    if isinstance(query, dict):
        chat = id_at(query, "message", "chat", "id")
        data = text_at(query, "data")
        if chat is None or not data:
            return None
        if data.startswith(CHOICE_PREFIX) and data[1:].isdigit():
            return AppMessage(key, chat, "text", text=data[1:], choice=int(data[1:]))
        return AppMessage(key, chat, "payload", text=_title(query, data), payload=data)
    message = update.get("message")
    if not isinstance(message, dict):
        return None  # edits, channel posts, member changes: not customer messages
    sender = id_at(message, "chat", "id")
    if sender is None:
        return None
    chat_type = member(message, "chat", "type")
    text = text_at(message, "text") or text_at(message, "caption")
    if chat_type != "private":
        mention = f"@{bot_username}" if bot_username else None
        if mention is None or mention.lower() not in text.lower():
            return None
        text = text.replace(mention, "").strip()
    metadata = {"telegram": {"chat_type": chat_type if isinstance(chat_type, str) else None}}
    contact = object_at(message, "contact")
    if contact and chat_type == "private":
        # Telegram vouches for a number only when the contact is the sender's own (shared with
        # the request_contact button); a forwarded card of someone else carries their user_id.
        sender_id = id_at(message, "from", "id")
        own = sender_id is not None and id_at(contact, "user_id") == sender_id
        phone = text_at(contact, "phone_number") if own else ""
        return AppMessage(key, sender, "contact", phone=phone or None, metadata=metadata)
    voice = id_at(message, "voice", "file_id") or id_at(message, "audio", "file_id")
    if voice:
        return AppMessage(key, sender, "voice", media_id=voice, metadata=metadata)
    photos = message.get("photo")
    if isinstance(photos, list) and photos and id_at(photos[-1], "file_id"):
        # The last size is the largest: the one OCR reads best.
        return AppMessage(key, sender, "image", media_id=id_at(photos[-1], "file_id"), text=text)
    document = id_at(message, "document", "file_id")
    if document:
        return AppMessage(key, sender, "file", media_id=document, metadata=metadata)
    if not text:
        return None
    return AppMessage(key, sender, "text", text=text, metadata=metadata)


def _title(query: dict[str, Any], data: str) -> str:
    """The tapped button's title, from the message the keyboard is on (what the customer saw);
    the callback data when the keyboard is not there."""
    rows = member(query, "message", "reply_markup", "inline_keyboard")
    for row in rows if isinstance(rows, list) else []:
        for key in row if isinstance(row, list) else []:
            if isinstance(key, dict) and key.get("callback_data") == data and key.get("text"):
                return str(key["text"])
    return data
