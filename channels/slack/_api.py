"""The Slack Web API the channel uses (slack-sdk's ``AsyncWebClient``: ``chat.postMessage``,
``auth.test``, ``files.info``), and how a stored message looks in Block Kit (recommendation
cards as sections with their buttons)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.media import UploadTooLarge
from bot.outbox import SendFailed, Undeliverable
from channels.connector import Card, cards_of, download

CHANNEL = "slack"
TEXT_LIMIT = 3000  # characters of a section block's text
VALUE_LIMIT = 2000  # characters of a button's value
MAX_BLOCKS = 50  # blocks in one message
# Where Slack serves files (``url_private_download``); the bot token goes to no other host.
FILE_HOSTS = frozenset({"files.slack.com"})
# Slack refuses the message for good: retrying cannot help.
REFUSED = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "account_inactive", "user_not_found"}
)


def render(text: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    """A stored message as ``chat.postMessage`` arguments: Block Kit, with buttons in an actions
    block (a tap comes back to the interactivity endpoint with the payload as its value); an
    image becomes an image block; recommendation cards a section and buttons each. ``text`` stays
    the notification's fallback."""
    payload = payload or {}
    cards = cards_of(payload)
    # A message of cards alone notifies with the items' names.
    shown = (text or "\n".join(card.title for card in cards))[:TEXT_LIMIT] or " "
    blocks: list[dict[str, Any]] = []
    if text or not cards:
        section_text = text[:TEXT_LIMIT] or " "
        blocks.append({"type": "section", "text": {"type": "plain_text", "text": section_text}})
    image = payload.get("image")
    if isinstance(image, str) and image.startswith("https://"):
        blocks.append({"type": "image", "image_url": image, "alt_text": "image"})
    buttons = [b for b in payload.get("buttons") or [] if isinstance(b, dict) and b.get("title")]
    if buttons:
        elements = [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": str(b["title"])[:75]},
                "value": str(b.get("payload") or b["title"])[:VALUE_LIMIT],
                "action_id": f"choice_{number}",
            }
            for number, b in enumerate(buttons[:25], start=1)
        ]
        blocks.append({"type": "actions", "elements": elements})
    blocks.extend(_card_blocks(cards, first_number=len(buttons) + 1))
    return {"text": shown, "blocks": blocks[:MAX_BLOCKS]}


def _card_blocks(cards: list[Card], first_number: int) -> list[dict[str, Any]]:
    """Recommendation cards: a section each (an https image beside it) and an actions block of
    its buttons, whose values carry the payloads ("rf:dismiss:<item>" for "Not interested")."""
    blocks: list[dict[str, Any]] = []
    number = first_number
    for card in cards:
        words = f"{card.title}\n{card.subtitle}".strip()
        section: dict[str, Any] = {
            "type": "section",
            "text": {"type": "plain_text", "text": words[:TEXT_LIMIT]},
        }
        if card.image and card.image.startswith("https://"):
            section["accessory"] = {"type": "image", "image_url": card.image, "alt_text": "item"}
        blocks.append(section)
        elements = []
        for choice in card.choices[:25]:
            elements.append(
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": choice.title[:75]},
                    "value": choice.payload[:VALUE_LIMIT],
                    "action_id": f"choice_{number}",
                }
            )
            number += 1
        if elements:
            blocks.append({"type": "actions", "elements": elements})
    return blocks


class SlackApi:
    """One workspace's bot, through slack-sdk."""

    channel = CHANNEL

    def __init__(
        self, base_url: str, bot_token: str, http: httpx.AsyncClient | None = None
    ) -> None:
        self._client = AsyncWebClient(token=bot_token, base_url=base_url.rstrip("/") + "/")
        self._token = bot_token
        self._http = http
        # The API's own host is trusted too (a proxy, or the tests' stand-in).
        self._file_hosts = FILE_HOSTS | {urlsplit(base_url).netloc}

    def render(self, text: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        return render(text, payload)

    async def check(self) -> str:
        """``auth.test``: the bot token works."""
        try:
            answer = await self._client.auth_test()
        except SlackClientError as exc:
            raise SendFailed(f"Slack refused the bot token: {exc}") from exc
        return f"bot {answer.get('user')} in {answer.get('team')}"

    async def send(self, recipient: str, body: dict[str, Any]) -> None:
        """Post one message to the channel or DM ``recipient``."""
        try:
            await self._client.chat_postMessage(channel=recipient, **body)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error in REFUSED:
                raise Undeliverable(f"Slack refused the message for good ({error})") from exc
            raise SendFailed(f"Slack answered {exc.response.status_code}: {error}") from exc
        except SlackClientError as exc:
            raise SendFailed(f"Slack's API failed: {exc}") from exc

    async def fetch_media(self, media_id: str, folder: Path, max_bytes: int) -> Path:
        """Download a shared file by its id: ``files.info`` gives its size and private URL,
        fetched with the bot token (only from Slack's file host)."""
        if self._http is None:
            raise SendFailed("this Slack client was built without an HTTP client for files")
        try:
            info = (await self._client.files_info(file=media_id)).get("file") or {}
        except SlackApiError as exc:
            raise SendFailed(f"Slack gave no file {media_id}: {exc.response.get('error')}") from exc
        except SlackClientError as exc:
            raise SendFailed(f"Slack's API failed: {exc}") from exc
        size, url = info.get("size"), info.get("url_private_download") or info.get("url_private")
        if isinstance(size, int) and size > max_bytes:
            raise UploadTooLarge(f"the file is larger than the limit of {max_bytes} bytes")
        if not isinstance(url, str) or urlsplit(url).netloc not in self._file_hosts:
            raise SendFailed("Slack's file URL is not on Slack's file host")
        try:
            result = await download(
                self._http,
                url,
                {},
                folder,
                name=str(info.get("name") or media_id),
                max_bytes=max_bytes,
                app="Slack",
                headers={"Authorization": f"Bearer {self._token}"},
            )
        except httpx.HTTPError as exc:
            raise SendFailed(f"Slack's file download failed: {exc!r}") from exc
        if isinstance(result, dict):
            raise SendFailed("Slack answered the file download with an error")
        return result
