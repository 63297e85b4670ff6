"""The Slack Web API the channel uses (slack-sdk's ``AsyncWebClient``: ``chat.postMessage``,
``auth.test``), and how a stored message looks in Block Kit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.outbox import SendFailed, Undeliverable

CHANNEL = "slack"
TEXT_LIMIT = 3000  # characters of a section block's text
VALUE_LIMIT = 2000  # characters of a button's value
# Slack refuses the message for good: retrying cannot help.
REFUSED = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "account_inactive", "user_not_found"}
)


def render(text: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    """A stored message as ``chat.postMessage`` arguments: Block Kit, with buttons in an actions
    block (a tap comes back to the interactivity endpoint with the payload as its value); an
    image becomes an image block. ``text`` stays the notification's fallback."""
    payload = payload or {}
    shown = text[:TEXT_LIMIT] or " "
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "plain_text", "text": shown}}
    ]
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
    return {"text": shown, "blocks": blocks}


class SlackApi:
    """One workspace's bot, through slack-sdk."""

    channel = CHANNEL

    def __init__(self, base_url: str, bot_token: str) -> None:
        self._client = AsyncWebClient(token=bot_token, base_url=base_url.rstrip("/") + "/")

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
        """Slack files are not read yet: the router passes only text and button taps."""
        raise SendFailed("files from Slack are not supported yet")
