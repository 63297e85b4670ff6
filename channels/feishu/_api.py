"""The Feishu (Lark) API the channel uses: the tenant access token, sending messages to a chat,
message resources; and how a stored message looks as a Feishu interactive card.

httpx against the documented endpoints with the shared token cache; lark-oapi does the event
crypto (its ``AESCipher``) in the router.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bot.outbox import SendFailed, Undeliverable
from channels.connector import (
    AppMessage,
    CachedToken,
    Choice,
    PhoneOffer,
    cards_of,
    download,
    id_at,
    json_object,
)

CHANNEL = "feishu"
TOKEN_EXPIRED = frozenset({99991661, 99991663, 99991668})
REFUSED = {
    230002: "the bot is not in this chat any more (230002)",
    230013: "the user is outside the app's availability (230013)",
}
TEXT_LIMIT = 5000


def render(text: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    """A stored message as an interactive card: the text, an image link, and buttons whose value
    carries the payload (a tap comes back as a ``card.action.trigger`` event)."""
    payload = payload or {}
    cards = cards_of(payload)
    elements: list[dict[str, Any]] = []
    if text or not cards:
        elements.append(
            {"tag": "div", "text": {"tag": "plain_text", "content": text[:TEXT_LIMIT] or " "}}
        )
    image = payload.get("image")
    if isinstance(image, str) and image:
        elements.append({"tag": "div", "text": {"tag": "plain_text", "content": image}})
    buttons = [b for b in payload.get("buttons") or [] if isinstance(b, dict) and b.get("title")]
    if buttons:
        actions = [
            {
                "tag": "button",
                "text": {"tag": "plain_text", "content": str(b["title"])[:100]},
                "type": "default",
                "value": {"payload": str(b.get("payload") or b["title"]), "title": str(b["title"])},
            }
            for b in buttons
        ]
        elements.append({"tag": "action", "actions": actions})
    for number, card in enumerate(cards):
        # A recommendation card: its name, reason and image link, then its buttons.
        words = "\n".join(line for line in (card.title, card.subtitle, card.image or "") if line)
        if elements or number:
            elements.append({"tag": "hr"})
        elements.append({"tag": "div", "text": {"tag": "plain_text", "content": words}})
        if card.choices:
            elements.append({"tag": "action", "actions": [_button(c) for c in card.choices]})
    return {"msg_type": "interactive", "content": json.dumps({"elements": elements})}


def _button(choice: Choice) -> dict[str, Any]:
    return {
        "tag": "button",
        "text": {"tag": "plain_text", "content": choice.title[:100]},
        "type": "default",
        "value": {"payload": choice.payload, "title": choice.title},
    }


class FeishuApi:
    """One Feishu app's bot."""

    channel = CHANNEL

    def __init__(
        self, base_url: str, app_id: str, app_secret: str, http: httpx.AsyncClient
    ) -> None:
        self._base = base_url.rstrip("/")
        self._app_id = app_id
        self._app_secret = app_secret
        self._http = http
        self.token = CachedToken(self._fetch_token)

    def render(self, text: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        return render(text, payload)

    async def check(self) -> str:
        await self.token.get()
        return "tenant access token received"

    async def _fetch_token(self) -> tuple[str, float]:
        response = await self._http.post(
            f"{self._base}/open-apis/auth/v3/tenant_access_token/internal",
            json={"app_id": self._app_id, "app_secret": self._app_secret},
        )
        data = json_object(response, "Feishu")
        if data.get("code") != 0 or not data.get("tenant_access_token"):
            raise SendFailed(
                f"Feishu gave no tenant access token ({data.get('code')}: {data.get('msg')}); "
                "check BOT_FEISHU_APP_ID and BOT_FEISHU_APP_SECRET"
            )
        return str(data["tenant_access_token"]), float(data.get("expire", 7200))

    async def send(self, recipient: str, body: dict[str, Any]) -> str | None:
        """Send one message to the chat ``recipient`` (a one-to-one chat or a group); Feishu's
        ``message_id`` of it, which its message-read event names (``im.message.message_read_v1``,
        channels/feishu/_router.py)."""

        async def post(token: str) -> dict[str, Any]:
            response = await self._http.post(
                f"{self._base}/open-apis/im/v1/messages",
                params={"receive_id_type": "chat_id"},
                json={"receive_id": recipient, **body},
                headers={"Authorization": f"Bearer {token}"},
            )
            return json_object(response, "Feishu")

        data = await self.token.call(post, _token_expired)
        code = int(data.get("code", -1))
        if code == 0:
            return id_at(data, "data", "message_id")
        if code in REFUSED:
            raise Undeliverable(REFUSED[code])
        raise SendFailed(f"Feishu answered {code}: {data.get('msg')}")

    def phone_offer(self, message: AppMessage) -> PhoneOffer | None:
        """``directory`` in a one-to-one chat, the only one ``verified_phone`` answers in."""
        found = message.metadata.get("feishu")
        return "directory" if isinstance(found, dict) and found.get("chat_type") == "p2p" else None

    async def verified_phone(self, message: AppMessage) -> str | None:
        """The sender's mobile from the contact API (the tenant's directory, which Feishu has
        verified); only in a one-to-one chat, whose chat is the sender's alone."""
        found = message.metadata.get("feishu")
        if not isinstance(found, dict) or found.get("chat_type") != "p2p":
            return None
        open_id = found.get("open_id")
        if not isinstance(open_id, str) or not open_id:
            return None

        async def get(token: str) -> dict[str, Any]:
            response = await self._http.get(
                f"{self._base}/open-apis/contact/v3/users/{quote(open_id, safe='')}",
                params={"user_id_type": "open_id"},
                headers={"Authorization": f"Bearer {token}"},
            )
            return json_object(response, "Feishu")

        try:
            data = await self.token.call(get, _token_expired)
        except httpx.HTTPError as exc:
            raise SendFailed(f"Feishu's contact API failed: {exc!r}") from exc
        if data.get("code") != 0:
            raise SendFailed(f"Feishu gave no user ({data.get('code')}: {data.get('msg')})")
        mobile = ((data.get("data") or {}).get("user") or {}).get("mobile")
        return mobile if isinstance(mobile, str) and mobile else None

    async def fetch_media(self, media_id: str, folder: Path, max_bytes: int) -> Path:
        """Download a message's image, audio or file (``message_id/file_key``)."""
        message_id, _, key = media_id.partition("/")
        kind = "image" if key.startswith("img_") else "file"

        async def get(token: str) -> Path | dict[str, Any]:
            url = f"{self._base}/open-apis/im/v1/messages/{message_id}/resources/{key}"
            return await download(
                self._http,
                url,
                {"type": kind},
                folder,
                name=key,
                max_bytes=max_bytes,
                app="Feishu",
            )

        try:
            result = await self.token.call(get, _token_expired)
        except httpx.HTTPError as exc:
            raise SendFailed(f"Feishu's resource download failed: {exc!r}") from exc
        if isinstance(result, dict):
            raise SendFailed(f"Feishu gave no file ({result.get('code')}: {result.get('msg')})")
        return result


def _token_expired(result: object) -> bool:
    return isinstance(result, dict) and result.get("code") in TOKEN_EXPIRED
