"""The WeChat Official Account API the channel uses: access token, customer-service messages,
template messages, media download; and how a stored message looks as a WeChat message.

httpx rather than wechatpy's ``WeChatClient``: that client is synchronous (requests) and would
block the hub's event loop on every send; wechatpy still does the crypto and the parsing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx

from bot.outbox import SendFailed, Undeliverable
from channels.connector import CachedToken, cards_of, choices_of, download, json_object

logger = logging.getLogger(__name__)

CHANNEL = "wechat"
# The token a call used is no longer valid: refresh once and repeat the call.
TOKEN_EXPIRED = frozenset({40001, 40014, 42001})
# WeChat refuses the message for good: retrying cannot help.
REFUSED = {
    45015: "the customer has not written for 48 hours, so WeChat allows no customer-service "
    "message (45015)",
    45047: "WeChat's limit of customer-service messages in a row is reached (45047)",
    43004: "the customer no longer follows the account (43004)",
    40003: "WeChat does not know this openid (40003)",
    43019: "the customer has blocked the account (43019)",
}
# Template messages (``message/template/send``) refused for good, beside those of REFUSED.
TEMPLATE_REFUSED = {
    **REFUSED,
    40037: "WeChat does not know the template id (40037); check "
    "BOT_WECHAT_CAMPAIGN_TEMPLATE_ID against the templates of the account's back office",
    47003: "WeChat refused the template's data (47003): a field the template needs is missing, "
    "or a value is longer than its field takes (a `thing` field takes 20 characters)",
    43100: "WeChat refused the template message (43100): the template is being sent too often",
}
TEXT_LIMIT = 2000  # characters WeChat takes in one text message (it counts 2048 bytes)


def render(text: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    """A stored message as a customer-service message: buttons become a WeChat menu message
    (the customer taps one and it comes back with its ``bizmsgmenuid``), an image a link line;
    other custom content is left out (WeChat has no card the API can send to one customer)."""
    payload = payload or {}
    image = payload.get("image")
    if isinstance(image, str) and image:
        text = f"{text}\n{image}" if text else image
    # Recommendation cards: the items in the head, every card's buttons in the menu, each named
    # with its item ("不感兴趣 · 小米 14"); the menu's numbers are the contract's choice numbers.
    cards, choices = cards_of(payload), choices_of(payload)
    own = len(choices) - sum(len(card.choices) for card in cards)
    entries = [choice.title for choice in choices[:own]]
    lines = [text] if text else []
    for number, card in enumerate(cards, start=1):
        lines += (
            [f"{number}. {card.title}", card.subtitle]
            if card.subtitle
            else [f"{number}. {card.title}"]
        )
        entries += [f"{choice.title} · {card.title}" for choice in card.choices]
    text = "\n".join(lines)
    if entries:
        return {
            "msgtype": "msgmenu",
            "msgmenu": {
                "head_content": text[:TEXT_LIMIT],
                "list": [
                    {"id": str(i), "content": entry[:60]}
                    for i, entry in enumerate(entries, start=1)
                ],
                "tail_content": "",
            },
        }
    return {"msgtype": "text", "text": {"content": text[:TEXT_LIMIT]}}


class WeChatApi:
    """The account's API, with its access token cached and refreshed."""

    channel = CHANNEL

    def __init__(self, base_url: str, app_id: str, secret: str, http: httpx.AsyncClient) -> None:
        self._base = base_url.rstrip("/")
        self._app_id = app_id
        self._secret = secret
        self._http = http
        self.token = CachedToken(self._fetch_token)

    def render(self, text: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        return render(text, payload)

    async def check(self) -> str:
        """Ask for an access token: the credentials work."""
        await self.token.get()
        return "access token received"

    async def _fetch_token(self) -> tuple[str, float]:
        response = await self._http.get(
            f"{self._base}/cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": self._app_id,
                "secret": self._secret,
            },
        )
        data = _json(response)
        if "access_token" not in data:
            raise SendFailed(
                f"WeChat gave no access token ({data.get('errcode')}: {data.get('errmsg')}); "
                "check BOT_WECHAT_APP_ID, BOT_WECHAT_APP_SECRET and the API IP allowlist"
            )
        return str(data["access_token"]), float(data.get("expires_in", 7200))

    async def send(self, recipient: str, body: dict[str, Any]) -> None:
        """Send one customer-service message; ``Undeliverable`` when WeChat refuses it for good."""

        async def post(token: str) -> dict[str, Any]:
            response = await self._http.post(
                f"{self._base}/cgi-bin/message/custom/send",
                params={"access_token": token},
                json={"touser": recipient, **body},
            )
            return _json(response)

        data = await self.token.call(post, _token_expired)
        code = int(data.get("errcode", 0))
        if code == 0:
            return
        if code in REFUSED:
            raise Undeliverable(REFUSED[code])
        raise SendFailed(f"WeChat answered {code}: {data.get('errmsg')}")

    async def send_template(
        self,
        recipient: str,
        template_id: str,
        data: dict[str, dict[str, str]],
        url: str | None = None,
    ) -> int:
        """Send one template message (it reaches a follower outside the 48-hour window); WeChat's
        message id. ``Undeliverable`` when WeChat refuses it for good, ``SendFailed`` else."""

        async def post(token: str) -> dict[str, Any]:
            body: dict[str, Any] = {"touser": recipient, "template_id": template_id, "data": data}
            if url:
                body["url"] = url
            response = await self._http.post(
                f"{self._base}/cgi-bin/message/template/send",
                params={"access_token": token},
                json=body,
            )
            return _json(response)

        try:
            data_back = await self.token.call(post, _token_expired)
        except httpx.HTTPError as exc:
            raise SendFailed(f"WeChat's template API could not be reached: {exc!r}") from exc
        code = int(data_back.get("errcode", 0))
        if code == 0:
            return int(data_back.get("msgid", 0))
        if code in TEMPLATE_REFUSED:
            raise Undeliverable(TEMPLATE_REFUSED[code])
        raise SendFailed(f"WeChat answered {code}: {data_back.get('errmsg')}")

    async def fetch_media(self, media_id: str, folder: Path, max_bytes: int) -> Path:
        """Download a customer's voice message or image (temporary media, kept 3 days)."""

        async def get(token: str) -> Path | dict[str, Any]:
            return await self._download(token, media_id, folder, max_bytes)

        try:
            result = await self.token.call(get, _token_expired)
        except httpx.HTTPError as exc:
            raise SendFailed(f"WeChat's media API failed: {exc!r}") from exc
        if isinstance(result, dict):
            raise SendFailed(
                f"WeChat gave no media {media_id!r} ({result.get('errcode')}: "
                f"{result.get('errmsg')})"
            )
        return result

    async def _download(
        self, token: str, media_id: str, folder: Path, max_bytes: int
    ) -> Path | dict[str, Any]:
        url = f"{self._base}/cgi-bin/media/get"
        params = {"access_token": token, "media_id": media_id}
        return await download(
            self._http, url, params, folder, name=media_id, max_bytes=max_bytes, app="WeChat"
        )


def _token_expired(result: object) -> bool:
    return isinstance(result, dict) and result.get("errcode") in TOKEN_EXPIRED


def _json(response: httpx.Response) -> dict[str, Any]:
    return json_object(response, "WeChat")
