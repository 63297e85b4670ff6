"""The Telegram Bot API the channel uses (``sendMessage``, ``answerCallbackQuery``, ``getFile``),
and how a stored message looks as a Telegram message (recommendation cards included).

Plain httpx against the Bot API rather than python-telegram-bot or aiogram: the hub needs three
methods and its own webhook route, and both frameworks bring an application loop of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from bot.media import UploadTooLarge
from bot.outbox import SendFailed, Undeliverable
from channels.connector import (
    AppMessage,
    Choice,
    PhoneOffer,
    cards_of,
    choices_of,
    download,
    json_object,
)

CHANNEL = "telegram"
TEXT_LIMIT = 4096
CALLBACK_DATA_BYTES = 64  # Telegram's limit on a button's callback_data
CHOICE_PREFIX = "#"  # callback_data "#2": the second button (its payload was too long)


def render(text: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    """A stored message as ``sendMessage`` parameters: buttons become an inline keyboard whose
    taps come back as callback queries carrying the payload (or the button's number when the
    payload is longer than Telegram's 64 bytes); recommendation cards a paragraph each with a
    keyboard row of their buttons; an image a link line."""
    payload = payload or {}
    image = payload.get("image")
    if isinstance(image, str) and image:
        text = f"{text}\n{image}" if text else image
    cards = cards_of(payload)
    paragraphs = [text] if text else []
    for number, card in enumerate(cards, start=1):
        lines = [f"{number}. {card.title}", card.subtitle, card.image or ""]
        paragraphs.append("\n".join(line for line in lines if line))
    text = "\n\n".join(paragraphs)
    body: dict[str, Any] = {"method": "sendMessage", "text": text[:TEXT_LIMIT] or "…"}
    choices = choices_of(payload)
    own = len(choices) - sum(len(card.choices) for card in cards)
    keys = [_key(number, choice) for number, choice in enumerate(choices, start=1)]
    rows = [[key] for key in keys[:own]]
    start = own
    for card in cards:
        if card.choices:
            rows.append(keys[start : start + len(card.choices)])
        start += len(card.choices)
    if rows:
        body["reply_markup"] = {"inline_keyboard": rows}
    return body


def _key(number: int, choice: Choice) -> dict[str, str]:
    """One inline button; its number instead of a payload over Telegram's 64 bytes."""
    data = choice.payload
    if not data or len(data.encode()) > CALLBACK_DATA_BYTES or data.startswith(CHOICE_PREFIX):
        data = f"{CHOICE_PREFIX}{number}"
    return {"text": choice.title[:64], "callback_data": data}


def phone_request(text: str, button: str) -> dict[str, Any]:
    """A message whose reply keyboard shares the customer's own number (a ``contact`` whose
    ``user_id`` is theirs), shown once."""
    keyboard = [[{"text": button, "request_contact": True}]]
    return {
        "method": "sendMessage",
        "text": text,
        "reply_markup": {
            "keyboard": keyboard,
            "one_time_keyboard": True,
            "resize_keyboard": True,
        },
    }


class TelegramApi:
    """One bot's Bot API."""

    channel = CHANNEL

    def __init__(self, base_url: str, bot_token: str, http: httpx.AsyncClient) -> None:
        self._base = f"{base_url.rstrip('/')}/bot{bot_token}"
        self._files = f"{base_url.rstrip('/')}/file/bot{bot_token}"
        self._http = http

    def render(self, text: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        return render(text, payload)

    def phone_offer(self, message: AppMessage) -> PhoneOffer | None:
        """``contact`` in a private chat: Telegram's ``request_contact`` button works only there."""
        chat_type = (message.metadata.get("telegram") or {}).get("chat_type")
        return "contact" if chat_type == "private" else None

    def phone_request(self, message: AppMessage, text: str, button: str) -> dict[str, Any] | None:
        """The share-my-number keyboard; None in a group (Telegram offers it in private chats)."""
        return phone_request(text, button) if self.phone_offer(message) else None

    def contact_request(self, text: str, button: str) -> dict[str, Any]:
        """The order check's offer: the same keyboard (the check is offered in private chats)."""
        return phone_request(text, button)

    def keyboard_removed(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` that also takes the share-my-number keyboard away (a customer who typed
        instead of tapping it still sees it: ``one_time_keyboard`` hides it only once used);
        a message with buttons of its own keeps them."""
        if body.get("method") != "sendMessage" or "reply_markup" in body:
            return body
        return {**body, "reply_markup": {"remove_keyboard": True}}

    async def check(self) -> str:
        """``getMe``: the bot token works."""
        me = await self.call("getMe", {})
        return f"bot @{me.get('username')}"

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """One Bot API method; ``Undeliverable`` for a refusal for good, ``SendFailed`` else."""
        try:
            response = await self._http.post(f"{self._base}/{method}", json=params)
        except httpx.HTTPError as exc:
            raise SendFailed(f"Telegram's API failed: {exc!r}") from exc
        data = json_object(response, "Telegram")
        if data.get("ok"):
            result = data.get("result")
            return result if isinstance(result, dict) else {}
        code, description = data.get("error_code"), str(data.get("description", ""))
        # 403: the user blocked the bot or deleted the chat; 400: no such chat.
        if code == 403 or (code == 400 and "chat not found" in description):
            raise Undeliverable(f"Telegram refused the message for good ({code}: {description})")
        raise SendFailed(f"Telegram answered {code}: {description}")

    async def send(self, recipient: str, body: dict[str, Any]) -> None:
        """Send one rendered message (or acknowledge a button tap) to chat ``recipient``."""
        params = {k: v for k, v in body.items() if k != "method"}
        method = str(body.get("method", "sendMessage"))
        if method == "sendMessage":
            params["chat_id"] = recipient
        await self.call(method, params)

    async def fetch_media(self, media_id: str, folder: Path, max_bytes: int) -> Path:
        """Download a voice message, photo or document by its ``file_id``."""
        found = await self.call("getFile", {"file_id": media_id})
        size, file_path = found.get("file_size"), found.get("file_path")
        if isinstance(size, int) and size > max_bytes:
            raise UploadTooLarge(f"the file is larger than the limit of {max_bytes} bytes")
        if not isinstance(file_path, str) or not file_path:
            raise SendFailed("Telegram gave no file_path for the file")
        try:
            result = await download(
                self._http,
                f"{self._files}/{file_path}",
                {},
                folder,
                name=Path(file_path).name,
                max_bytes=max_bytes,
                app="Telegram",
            )
        except httpx.HTTPError as exc:
            raise SendFailed(f"Telegram's file download failed: {exc!r}") from exc
        if isinstance(result, dict):
            raise SendFailed(f"Telegram gave no file ({result.get('description')})")
        return result
