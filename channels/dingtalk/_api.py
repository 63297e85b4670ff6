"""The DingTalk API the channel uses: the app's access token, the robot's one-to-one and group
messages and their read status, message files, the directory's mobile of a member; and how a
stored message looks as a robot message.

httpx against the documented endpoints rather than DingTalk's SDK (alibabacloud-dingtalk): the
hub needs six calls, and the SDK pulls in Alibaba Cloud's whole Tea client stack. The directory
lives on the older API host (``oapi.dingtalk.com``, ``access_token`` in the query), which takes
the same internal-app token as the new one (``api.dingtalk.com``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
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

CHANNEL = "dingtalk"
TEXT_LIMIT = 5000
USER, GROUP = "user:", "group:"  # recipient prefixes: a staff id or an open conversation id
# The older API's answers for a token it no longer takes (invalid, expired): refresh once.
OAPI_TOKEN_EXPIRED = frozenset({40014, 42001})
READ = "READ"  # a recipient's ``readStatus`` once they read the message (else "UNREAD")
# DingTalk answers a one-to-one message's read status for 24 hours after the send, no longer
# (the readStatus page cited in ``DingTalkApi.read_at``). Its group page names no window (only
# an error for a key "not ready yet or expired"): group messages are asked about as long.
READ_STATUS_HOURS = 24
# A group message's readers come a page at a time: the documented largest page, and how many
# pages one question reads at most (10,000 members), so an answer that never ends cannot keep
# the read-status job asking.
GROUP_READERS_PAGE = 200
GROUP_READ_PAGES = 50


def render(text: str, payload: dict[str, Any] | None) -> dict[str, Any]:
    """A stored message as a robot message: buttons become numbered choices in the text (the
    customer answers with the number), an image a link line."""
    return {
        "msgKey": "sampleText",
        "msgParam": {"content": numbered_text(text, payload, TEXT_LIMIT)},
    }


class DingTalkApi:
    """One DingTalk app's robot."""

    channel = CHANNEL

    def __init__(
        self,
        base_url: str,
        app_key: str,
        app_secret: str,
        robot_code: str,
        http: httpx.AsyncClient,
        *,
        oapi_url: str = "https://oapi.dingtalk.com",
    ) -> None:
        self._base = base_url.rstrip("/")
        self._oapi = oapi_url.rstrip("/")
        self._app_key = app_key
        self._app_secret = app_secret
        self._robot_code = robot_code
        self._http = http
        self.token = CachedToken(self._fetch_token)

    def render(self, text: str, payload: dict[str, Any] | None) -> dict[str, Any]:
        return render(text, payload)

    async def check(self) -> str:
        await self.token.get()
        return "access token received"

    async def _fetch_token(self) -> tuple[str, float]:
        response = await self._http.post(
            f"{self._base}/v1.0/oauth2/accessToken",
            json={"appKey": self._app_key, "appSecret": self._app_secret},
        )
        data = json_object(response, "DingTalk")
        if not data.get("accessToken"):
            raise SendFailed(
                f"DingTalk gave no access token ({data.get('code')}: {data.get('message')}); "
                "check BOT_DINGTALK_APP_KEY and BOT_DINGTALK_APP_SECRET"
            )
        return str(data["accessToken"]), float(data.get("expireIn", 7200))

    async def send(self, recipient: str, body: dict[str, Any]) -> str | None:
        """Send one robot message to a user (``user:<staffId>``) or a group (``group:<id>``):
        DingTalk's ``processQueryKey`` of it, which ``read_at`` asks about with the recipient
        (the recipient tells which of DingTalk's two read-status APIs knows the key)."""
        message: dict[str, Any] = {
            "robotCode": self._robot_code,
            "msgKey": body["msgKey"],
            "msgParam": json.dumps(body["msgParam"], ensure_ascii=False),
        }
        if recipient.startswith(GROUP):
            path = "/v1.0/robot/groupMessages/send"
            message["openConversationId"] = recipient.removeprefix(GROUP)
        else:
            path = "/v1.0/robot/oToMessages/batchSend"
            message["userIds"] = [recipient.removeprefix(USER)]

        async def post(token: str) -> httpx.Response:
            return await self._http.post(
                f"{self._base}{path}", json=message, headers={"x-acs-dingtalk-access-token": token}
            )

        response = await self.token.call(post, _token_expired)
        if response.status_code < 300:
            data = json_object(response, "DingTalk")
            if data.get("invalidStaffIdList"):
                raise Undeliverable("DingTalk does not know this user (invalidStaffIdList)")
            key = data.get("processQueryKey")
            return key if isinstance(key, str) and key else None
        data = json_object(response, "DingTalk")
        code = str(data.get("code", ""))
        if response.status_code in (400, 403, 404) and "staffId" in code + str(data):
            raise Undeliverable(f"DingTalk refused the message for good ({code})")
        raise SendFailed(f"DingTalk answered HTTP {response.status_code}: {code}")

    async def read_at(self, recipient: str, process_query_key: str) -> datetime | None:
        """When the robot message ``send`` sent to ``recipient`` under ``process_query_key``
        was read (None: not yet); ``SendFailed`` when DingTalk answers no status. A one-to-one
        message is read when its user read it; a group message (``group:<id>``) once any
        member read it (``_group_read``)."""
        try:
            if recipient.startswith(GROUP):
                return await self._group_read(recipient.removeprefix(GROUP), process_query_key)
            return await self._user_read(process_query_key)
        except httpx.HTTPError as exc:
            raise SendFailed(f"DingTalk's read status failed: {exc!r}") from exc

    async def _user_read(self, process_query_key: str) -> datetime | None:
        """When the recipient of a one-to-one robot message read it (None: not yet), from
        ``GET /v1.0/robot/oToMessages/readStatus``. DingTalk answers ``sendStatus`` and
        ``messageReadInfoList`` (``name``, ``userId``, ``readStatus`` READ or UNREAD,
        ``readTimestamp`` in ms), and only within 24 hours of the send (``READ_STATUS_HOURS``):
        https://help.dingtalk.io/open/development/chatbot-batch-query-the-read-status-of-messages
        (field names also as in DingTalk's SDK model ``BatchOTOQueryResponseBody``)."""

        async def get(token: str) -> httpx.Response:
            return await self._http.get(
                f"{self._base}/v1.0/robot/oToMessages/readStatus",
                # httpx URL-encodes the key, as the page asks of a direct HTTP call.
                params={"robotCode": self._robot_code, "processQueryKey": process_query_key},
                headers={"x-acs-dingtalk-access-token": token},
            )

        data = _read_answer(await self.token.call(get, _token_expired))
        readers = data.get("messageReadInfoList")
        if not isinstance(readers, list):
            raise SendFailed("DingTalk's read status has no messageReadInfoList")
        # One recipient per message (``send`` names one user): any READ entry is theirs.
        for reader in readers:
            if isinstance(reader, dict) and reader.get("readStatus") == READ:
                return _read_time(reader.get("readTimestamp"))
        return None

    async def _group_read(self, conversation: str, process_query_key: str) -> datetime | None:
        """When a group message was first seen read (None: no member has read it yet), from
        ``POST /v1.0/robot/groupMessages/query`` with ``openConversationId``, ``robotCode``,
        ``processQueryKey``, ``maxResults`` and, past the first page, ``nextToken``; DingTalk
        answers ``sendStatus`` (SUCCESS, RECALLED, PROCESSING), ``readUserIds`` (the userIds
        that read it), ``hasMore`` and ``nextToken``:
        https://help.dingtalk.io/open/development/chatbot-queries-the-read-status-of-a-message
        (查询机器人发送群聊消息的已读状态; field names also as in DingTalk's SDK models
        ``OrgGroupQueryRequest`` and ``OrgGroupQueryResponseBody``, robot_1_0).

        A campaign's contact is the group, so the message is read once any member read it:
        pages are read until one names a reader or DingTalk has no more. The answer carries no
        read time: the message is read at the question that first found a reader (at most
        ``BOT_APP_READ_CHECK_S`` late). How many read it is not kept (a campaign counts
        recipients, and a group is one)."""
        query: dict[str, Any] = {
            "openConversationId": conversation,
            "robotCode": self._robot_code,
            "processQueryKey": process_query_key,
            "maxResults": GROUP_READERS_PAGE,
        }
        for _ in range(GROUP_READ_PAGES):
            data = await self._group_page(query)
            if "readUserIds" not in data and "sendStatus" not in data:
                raise SendFailed("DingTalk's group read status has no readUserIds or sendStatus")
            readers = data.get("readUserIds") or []
            if not isinstance(readers, list):
                raise SendFailed("DingTalk's group read status has a readUserIds that is no list")
            if any(isinstance(reader, str) and reader for reader in readers):
                return datetime.now(UTC)
            if data.get("hasMore") is not True:
                return None
            cursor = data.get("nextToken")
            if not isinstance(cursor, str) or not cursor or cursor == query.get("nextToken"):
                raise SendFailed("DingTalk's group read status has more pages but no new nextToken")
            query = {**query, "nextToken": cursor}
        raise SendFailed(
            f"DingTalk's group read status went on past {GROUP_READ_PAGES} pages of "
            f"{GROUP_READERS_PAGE} members"
        )

    async def _group_page(self, query: dict[str, Any]) -> dict[str, Any]:
        """One page of ``groupMessages/query``."""

        async def post(token: str) -> httpx.Response:
            return await self._http.post(
                f"{self._base}/v1.0/robot/groupMessages/query",
                json=query,
                headers={"x-acs-dingtalk-access-token": token},
            )

        return _read_answer(await self.token.call(post, _token_expired))

    def phone_offer(self, message: AppMessage) -> PhoneOffer | None:
        """``directory`` for a member of the company writing one to one (a ``senderStaffId``):
        only a member has a directory entry, and a group's messages are the group's."""
        staff = (message.metadata.get("dingtalk") or {}).get("staff")
        return "directory" if message.sender.startswith(USER) and staff else None

    async def verified_phone(self, message: AppMessage) -> str | None:
        """The sender's mobile from the company directory (``topapi/v2/user/get``), with its
        country code (``state_code``); None when the app lacks the contact permission for
        mobiles (DingTalk then leaves ``mobile`` out) or the sender is no member."""
        if self.phone_offer(message) is None:
            return None
        userid = message.sender.removeprefix(USER)

        async def get(token: str) -> dict[str, Any]:
            response = await self._http.post(
                f"{self._oapi}/topapi/v2/user/get",
                params={"access_token": token},
                json={"userid": userid, "language": "zh_CN"},
            )
            return json_object(response, "DingTalk")

        try:
            data = await self.token.call(get, _oapi_token_expired)
        except httpx.HTTPError as exc:
            raise SendFailed(f"DingTalk's directory API failed: {exc!r}") from exc
        if str(data.get("errcode", "")) != "0":
            raise SendFailed(f"DingTalk gave no user ({data.get('errcode')}: {data.get('errmsg')})")
        found = data.get("result")
        user: dict[str, Any] = found if isinstance(found, dict) else {}
        mobile, country = user.get("mobile"), user.get("state_code")
        if not isinstance(mobile, str) or not mobile:
            return None
        if isinstance(country, str) and country.isdigit() and not mobile.startswith("+"):
            return f"+{country}{mobile}"
        return mobile

    async def fetch_media(self, media_id: str, folder: Path, max_bytes: int) -> Path:
        """Download a file a user sent the robot (its ``downloadCode``)."""

        async def url_of(token: str) -> httpx.Response:
            return await self._http.post(
                f"{self._base}/v1.0/robot/messageFiles/download",
                json={"downloadCode": media_id, "robotCode": self._robot_code},
                headers={"x-acs-dingtalk-access-token": token},
            )

        try:
            answer = json_object(await self.token.call(url_of, _token_expired), "DingTalk")
            link = answer.get("downloadUrl")
            if not isinstance(link, str) or not link:
                raise SendFailed(f"DingTalk gave no download URL ({answer.get('code')})")
            result = await download(
                self._http,
                link,
                {},
                folder,
                name="dingtalk-file",
                max_bytes=max_bytes,
                app="DingTalk",
            )
        except httpx.HTTPError as exc:
            raise SendFailed(f"DingTalk's file download failed: {exc!r}") from exc
        if isinstance(result, dict):
            raise SendFailed(f"DingTalk gave no file ({result.get('code')})")
        return result


def _read_answer(response: httpx.Response) -> dict[str, Any]:
    """A read-status answer's body; ``SendFailed`` with DingTalk's code and message when it
    answered an error (``processQueryKey.expireTime``: the key is not ready yet or expired)."""
    data = json_object(response, "DingTalk")
    if response.status_code >= 300:
        code, message = data.get("code", ""), data.get("message", "")
        raise SendFailed(
            f"DingTalk's read status answered HTTP {response.status_code}: {code} {message}".strip()
        )
    return data


def _read_time(stamp: object) -> datetime:
    """DingTalk's ``readTimestamp`` (ms) as a time; now when it gave none usable."""
    if isinstance(stamp, int) and not isinstance(stamp, bool) and 0 < stamp < 10**15:
        return datetime.fromtimestamp(stamp / 1000, UTC)
    return datetime.now(UTC)


def _token_expired(response: object) -> bool:
    """DingTalk answers 401 with ``InvalidAuthentication`` for an expired or revoked token."""
    return isinstance(response, httpx.Response) and response.status_code == 401


def _oapi_token_expired(result: object) -> bool:
    """The older API answers HTTP 200 with ``errcode`` 40014 or 42001 for a stale token."""
    if not isinstance(result, dict):
        return False
    code = result.get("errcode")
    return str(code).isdigit() and int(str(code)) in OAPI_TOKEN_EXPIRED
