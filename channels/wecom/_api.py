"""The WeCom API the channel uses: access token, app messages, media download; and how a stored
message looks as a WeCom text message.

httpx rather than wechatpy's ``WeChatClient``: that client is synchronous (requests) and would
block the hub's event loop on every send; wechatpy still does the crypto and the parsing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from bot.outbox import SendFailed, Undeliverable
from channels.connector import (
    AppMessage,
    CachedToken,
    PhoneOffer,
    download,
    json_object,
    numbered_text,
)

CHANNEL = "wecom"
# The token a call used is no longer valid: refresh once and repeat the call.
TOKEN_EXPIRED = frozenset({40014, 42001})
# WeCom refuses the message for good: retrying cannot help.
REFUSED = {
    81013: "the user is not in the app's visible range, or has left the company (81013)",
    60111: "WeCom does not know this userid (60111)",
    81014: "the user has been blocked from the app (81014)",
}
TEXT_LIMIT = 2000  # WeCom takes 2048 bytes of text


def render(text: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    """A stored message as a WeCom text message: buttons become numbered choices (the customer
    answers with the number; the contract turns it into the button's payload), an image a link
    line; other custom content is left out."""
    return {"msgtype": "text", "text": {"content": numbered_text(text, payload, TEXT_LIMIT)}}


class WeComApi:
    """The company's customer-service app, with its access token cached and refreshed."""

    channel = CHANNEL

    def __init__(
        self, base_url: str, corp_id: str, agent_id: str, secret: str, http: httpx.AsyncClient
    ) -> None:
        self._base = base_url.rstrip("/")
        self._corp_id = corp_id
        self.agent_id = agent_id
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
            f"{self._base}/cgi-bin/gettoken",
            params={"corpid": self._corp_id, "corpsecret": self._secret},
        )
        data = json_object(response, "WeCom")
        if not data.get("access_token"):
            raise SendFailed(
                f"WeCom gave no access token ({data.get('errcode')}: {data.get('errmsg')}); "
                "check BOT_WECOM_CORP_ID and BOT_WECOM_SECRET"
            )
        return str(data["access_token"]), float(data.get("expires_in", 7200))

    async def send(self, recipient: str, body: dict[str, Any]) -> None:
        """Send one app message to a user; ``Undeliverable`` when WeCom refuses it for good."""

        async def post(token: str) -> dict[str, Any]:
            response = await self._http.post(
                f"{self._base}/cgi-bin/message/send",
                params={"access_token": token},
                json={"touser": recipient, "agentid": int(self.agent_id), **body},
            )
            return json_object(response, "WeCom")

        data = await self.token.call(post, _token_expired)
        code = int(data.get("errcode", 0))
        if code in REFUSED:
            raise Undeliverable(REFUSED[code])
        if code != 0:
            raise SendFailed(f"WeCom answered {code}: {data.get('errmsg')}")
        if data.get("invaliduser"):
            raise Undeliverable(f"WeCom did not deliver to {data['invaliduser']} (invaliduser)")

    def phone_offer(self, message: AppMessage) -> PhoneOffer | None:
        """``directory``: an app message's sender is a member whose mobile ``user/get`` gives."""
        return "directory"

    async def verified_phone(self, message: AppMessage) -> str | None:
        """The sender's mobile from the company directory (``user/get``); None when the app may
        not read it (WeCom hides mobiles from apps made after June 2022 without consent)."""

        async def get(token: str) -> dict[str, Any]:
            response = await self._http.get(
                f"{self._base}/cgi-bin/user/get",
                params={"access_token": token, "userid": message.sender},
            )
            return json_object(response, "WeCom")

        try:
            data = await self.token.call(get, _token_expired)
        except httpx.HTTPError as exc:
            raise SendFailed(f"WeCom's directory API failed: {exc!r}") from exc
        if int(data.get("errcode", 0)) != 0:
            raise SendFailed(f"WeCom gave no user ({data.get('errcode')}: {data.get('errmsg')})")
        mobile = data.get("mobile")
        return mobile if isinstance(mobile, str) and mobile else None

    async def fetch_media(self, media_id: str, folder: Path, max_bytes: int) -> Path:
        """Download a user's voice message or image (temporary media, kept 3 days)."""

        async def get(token: str) -> Path | dict[str, Any]:
            params = {"access_token": token, "media_id": media_id}
            url = f"{self._base}/cgi-bin/media/get"
            return await download(
                self._http, url, params, folder, name=media_id, max_bytes=max_bytes, app="WeCom"
            )

        try:
            result = await self.token.call(get, _token_expired)
        except httpx.HTTPError as exc:
            raise SendFailed(f"WeCom's media API failed: {exc!r}") from exc
        if isinstance(result, dict):
            raise SendFailed(
                f"WeCom gave no media {media_id!r} "
                f"({result.get('errcode')}: {result.get('errmsg')})"
            )
        return result


def _token_expired(result: object) -> bool:
    return isinstance(result, dict) and result.get("errcode") in TOKEN_EXPIRED
