"""A local HTTP server standing in for a messaging app's API (token, send, media) and for Rasa's
REST webhook, in its own thread, recording what the hub sent it."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from fastapi.testclient import TestClient

from tests.launch import free_port

WAIT_S = 20.0
GROUP_PAGE = 200  # the most members a page of DingTalk's group read query covers (maxResults)
DINGTALK_MEMBERS = ["member-1", "member-2", "member-3"]  # a group's members, unless given


@dataclass
class Sent:
    """One message the hub sent through the app's API."""

    token: str
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)  # when it arrived (benchmarks)


@dataclass
class AppStandIn:
    """What the stand-in does and what it saw; change the knobs between requests."""

    port: int = field(default_factory=free_port)
    sent: list[Sent] = field(default_factory=list)
    tokens_issued: int = 0
    fail_sends: int = 0  # the next this many sends answer HTTP 500
    failure_rate: float = 0.0  # or each send fails with this probability
    expired_tokens: set[str] = field(default_factory=set)  # answered with 42001
    refused: dict[str, int] = field(default_factory=dict)  # recipient -> WeChat errcode
    templates: set[str] = field(default_factory=set)  # WeChat template ids the account has
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # media id -> body, type
    rasa_seen: list[dict[str, Any]] = field(default_factory=list)
    slack_files: dict[str, dict[str, Any]] = field(default_factory=dict)  # files.info answers
    downloads: list[tuple[str, str]] = field(default_factory=list)  # (path, Authorization)
    directory: dict[str, str] = field(default_factory=dict)  # app user id -> verified mobile
    lookups: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (token, request)
    # Rasa's answers to given messages (text -> replies), as its REST channel sends them.
    rasa_script: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # DingTalk's one-to-one sends by their processQueryKey (-> the user), those the user read
    # (-> readTimestamp in ms), the read-status questions asked, and how many to answer 503.
    dingtalk_keys: dict[str, str] = field(default_factory=dict)
    dingtalk_read: dict[str, int] = field(default_factory=dict)
    read_questions: list[dict[str, Any]] = field(default_factory=list)
    fail_reads: int = 0
    # DingTalk's group sends by their processQueryKey (-> the openConversationId), each group's
    # members (``DINGTALK_MEMBERS`` when not given; pages of the read query run over them), the
    # members who read each message, and the keys whose read data is not ready yet.
    dingtalk_groups: dict[str, str] = field(default_factory=dict)
    dingtalk_members: dict[str, list[str]] = field(default_factory=dict)
    dingtalk_group_read: dict[str, set[str]] = field(default_factory=dict)
    dingtalk_not_ready: set[str] = field(default_factory=set)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _rng: random.Random = field(default_factory=lambda: random.Random(7))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until(self, check: Callable[[], bool], timeout_s: float) -> bool:
        """Whether ``check()`` came to hold within ``timeout_s``."""
        with self._cond:
            return self._cond.wait_for(check, timeout=timeout_s)

    def wait_for(self, check: Callable[[], bool], what: str) -> None:
        """Block until ``check()`` holds (the server thread notifies on every request)."""
        with self._cond:
            if not self._cond.wait_for(check, timeout=WAIT_S):
                raise AssertionError(f"timed out waiting for {what}; sent: {self.sent}")

    def texts(self) -> list[str]:
        """The text of every sent message, in order."""
        out = []
        for item in self.sent:
            body = item.body
            if "text" in body and isinstance(body["text"], dict):
                out.append(str(body["text"].get("content")))
            elif "msgmenu" in body:
                out.append(str(body["msgmenu"]["head_content"]))
            elif body.get("method") in ("sendMessage", "chat.postMessage"):
                out.append(str(body["text"]))
            elif body.get("msg_type") == "interactive":
                out.append(str(body["content"]["elements"][0]["text"]["content"]))
            elif "msgKey" in body:
                out.append(str(body["msgParam"]["content"]))
        return out

    # ---- handlers (server thread) ----------------------------------------------------

    def _record(self, change: Callable[[], None]) -> None:
        with self._cond:
            change()
            self._cond.notify_all()

    async def token(self, request: web.Request) -> web.Response:
        def issue() -> None:
            self.tokens_issued += 1

        self._record(issue)
        return web.json_response(
            {"access_token": f"tok-{self.tokens_issued}", "expires_in": 7200, "errcode": 0}
        )

    async def send(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token", "")
        body = await request.json()
        recipient = body.get("touser")
        if self.fail_sends > 0 or (self.failure_rate and self._rng.random() < self.failure_rate):
            self.fail_sends = max(0, self.fail_sends - 1)
            self._record(lambda: None)
            return web.Response(status=500, text="down")
        if token in self.expired_tokens:
            self._record(lambda: None)
            return web.json_response({"errcode": 42001, "errmsg": "access_token expired"})
        if recipient in self.refused:
            self._record(lambda: None)
            return web.json_response({"errcode": self.refused[recipient], "errmsg": "refused"})
        self._record(lambda: self.sent.append(Sent(token, body)))
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": len(self.sent)})

    async def template_send(self, request: web.Request) -> web.Response:
        """WeChat's ``message/template/send``: 40037 for a template the account does not have,
        the recipient's errcode from ``refused``, else recorded with its ``msgid``."""
        body = await request.json()
        if body.get("template_id") not in self.templates:
            self._record(lambda: None)
            return web.json_response({"errcode": 40037, "errmsg": "invalid template_id"})
        return await self.send(request)

    async def media_get(self, request: web.Request) -> web.Response:
        found = self.media.get(request.query.get("media_id", ""))
        if found is None:
            return web.json_response({"errcode": 40007, "errmsg": "invalid media_id"})
        data, content_type = found
        return web.Response(body=data, content_type=content_type)

    async def rasa(self, request: web.Request) -> web.Response:
        """Rasa's REST channel: echoes, offers buttons on "menu", answers a payload by name."""
        body = await request.json()
        self._record(lambda: self.rasa_seen.append(body))
        text = str(body.get("message", ""))
        sender = body.get("sender")
        if text in self.rasa_script:
            return web.json_response(
                [{"recipient_id": sender, **reply} for reply in self.rasa_script[text]]
            )
        if text in ("recommend", "给我推荐手机"):
            cards = recommendation_cards(
                [("EL-001", "华为 Mate 60 手机 ¥4999"), ("EL-002", "小米 14 手机 ¥3999")]
            )
            # Rasa's REST channel sends a response's text and its json_message as two messages.
            return web.json_response(
                [
                    {"recipient_id": sender, "text": "根据您的需求，为您推荐："},
                    {"recipient_id": sender, "custom": cards},
                ]
            )
        if text == "menu":
            reply = {
                "recipient_id": sender,
                "text": "Pick one",
                "buttons": [
                    {"title": "Orders", "payload": "/check_order_status"},
                    {"title": "Returns", "payload": "/return_request"},
                ],
            }
            return web.json_response([reply])
        return web.json_response([{"recipient_id": sender, "text": f"echo: {text}"}])

    async def telegram(self, request: web.Request) -> web.Response:
        """The Bot API: ``/bot<token>/<method>`` with a JSON body."""
        method = request.match_info["method"]
        body = await request.json() if request.can_read_body else {}
        token = request.match_info["token"]
        if method == "getMe":
            return web.json_response({"ok": True, "result": {"id": 1, "username": "shop_bot"}})
        if method == "getFile":
            file_id = body.get("file_id", "")
            if file_id not in self.media:
                return web.json_response(
                    {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
                )
            data, _type = self.media[file_id]
            result = {"file_id": file_id, "file_size": len(data), "file_path": f"f/{file_id}.ogg"}
            return web.json_response({"ok": True, "result": result})
        if self.fail_sends > 0 or (self.failure_rate and self._rng.random() < self.failure_rate):
            self.fail_sends = max(0, self.fail_sends - 1)
            self._record(lambda: None)
            return web.Response(status=502, text="bad gateway")
        chat = str(body.get("chat_id", ""))
        if chat in self.refused:
            self._record(lambda: None)
            error = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked"}
            return web.json_response(error)
        self._record(lambda: self.sent.append(Sent(token, {"method": method, **body})))
        return web.json_response({"ok": True, "result": {"message_id": len(self.sent)}})

    async def telegram_file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"].removesuffix(".ogg")
        data, content_type = self.media[name]
        return web.Response(body=data, content_type=content_type)

    async def slack(self, request: web.Request) -> web.Response:
        """The Slack Web API: ``/api/<method>`` with a JSON body and a bearer token."""
        method = request.match_info["method"]
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if method == "auth.test":
            return web.json_response({"ok": True, "user": "shopbot", "team": "Shop"})
        body = await request.json()
        if self.fail_sends > 0 or (self.failure_rate and self._rng.random() < self.failure_rate):
            self.fail_sends = max(0, self.fail_sends - 1)
            self._record(lambda: None)
            return web.json_response({"ok": False, "error": "internal_error"}, status=500)
        if body.get("channel") in self.refused:
            self._record(lambda: None)
            return web.json_response({"ok": False, "error": "channel_not_found"})
        self._record(lambda: self.sent.append(Sent(token, {"method": method, **body})))
        return web.json_response({"ok": True, "channel": body.get("channel"), "ts": "1.0"})

    async def slack_get(self, request: web.Request) -> web.Response:
        """``files.info`` (a GET with the file id in the query)."""
        if request.match_info["method"] != "files.info":
            return web.json_response({"ok": False, "error": "unknown_method"})
        found = self.slack_files.get(request.query.get("file", ""))
        if found is None:
            return web.json_response({"ok": False, "error": "file_not_found"})
        return web.json_response({"ok": True, "file": found})

    async def slack_file(self, request: web.Request) -> web.Response:
        """A file's ``url_private_download``: only with the bot token."""
        authorization = request.headers.get("Authorization", "")
        self._record(lambda: self.downloads.append((request.path, authorization)))
        if not authorization.startswith("Bearer xoxb-"):
            return web.Response(status=403, text="no token")
        data, content_type = self.media[request.match_info["name"]]
        return web.Response(body=data, content_type=content_type)

    async def dingtalk_token(self, request: web.Request) -> web.Response:
        def issue() -> None:
            self.tokens_issued += 1

        self._record(issue)
        return web.json_response({"accessToken": f"tok-{self.tokens_issued}", "expireIn": 7200})

    async def dingtalk_send(self, request: web.Request) -> web.Response:
        """The robot's one-to-one and group sends (``x-acs-dingtalk-access-token``)."""
        token = request.headers.get("x-acs-dingtalk-access-token", "")
        body = await request.json()
        if self.fail_sends > 0 or (self.failure_rate and self._rng.random() < self.failure_rate):
            self.fail_sends = max(0, self.fail_sends - 1)
            self._record(lambda: None)
            return web.json_response({"code": "ServiceUnavailable"}, status=503)
        if token in self.expired_tokens:
            self._record(lambda: None)
            return web.json_response({"code": "InvalidAuthentication"}, status=401)
        users = body.get("userIds") or []
        if any(user in self.refused for user in users):
            self._record(lambda: None)
            return web.json_response({"invalidStaffIdList": users, "processQueryKey": "q"})
        entry = {"path": request.path, **body, "msgParam": json.loads(body["msgParam"])}
        key = f"pqk+{len(self.sent) + 1}/="  # DingTalk's keys are base64: the URL must encode

        def keep() -> None:
            self.sent.append(Sent(token, entry))
            if users:
                self.dingtalk_keys[key] = users[0]
            elif body.get("openConversationId"):
                self.dingtalk_groups[key] = body["openConversationId"]

        self._record(keep)
        return web.json_response({"processQueryKey": key})

    def _read_question(self, request: web.Request, asked: Any) -> web.Response | None:
        """Record a read-status question; the answer when the API is down (``fail_reads``) or
        the token expired, else None."""
        self._record(lambda: self.read_questions.append(asked))
        if self.fail_reads > 0:
            self.fail_reads -= 1
            return web.json_response({"code": "ServiceUnavailable"}, status=503)
        if request.headers.get("x-acs-dingtalk-access-token", "") in self.expired_tokens:
            return web.json_response({"code": "InvalidAuthentication"}, status=401)
        return None

    async def dingtalk_read_status(self, request: web.Request) -> web.Response:
        """``GET /v1.0/robot/oToMessages/readStatus``: the one-to-one message's ``sendStatus``
        and ``messageReadInfoList``, as DingTalk documents them."""
        asked = dict(request.query)
        unavailable = self._read_question(request, asked)
        if unavailable is not None:
            return unavailable
        key = asked.get("processQueryKey", "")
        user = self.dingtalk_keys.get(key)
        if user is None or not asked.get("robotCode"):
            error = {"code": "invalidParameter.processQueryKey", "message": "no such message"}
            return web.json_response(error, status=400)
        reader: dict[str, Any] = {"name": "李雷", "userId": user, "readStatus": "UNREAD"}
        if key in self.dingtalk_read:
            reader.update(readStatus="READ", readTimestamp=self.dingtalk_read[key])
        return web.json_response({"sendStatus": "SUCCESS", "messageReadInfoList": [reader]})

    async def dingtalk_group_read_status(self, request: web.Request) -> web.Response:
        """``POST /v1.0/robot/groupMessages/query``: a page of the group message's readers
        (``readUserIds``) with ``sendStatus``, ``hasMore`` and ``nextToken``, and the page's
        documented 400s (chatbot-queries-the-read-status-of-a-message). A page covers
        ``maxResults`` (at most 200) of the group's members; ``nextToken`` is opaque."""
        asked = await request.json()
        unavailable = self._read_question(request, asked)
        if unavailable is not None:
            return unavailable
        refusal = self._group_query_refusal(asked)
        if refusal is not None:
            return web.json_response({"code": refusal[0], "message": refusal[1]}, status=400)
        key, size = str(asked["processQueryKey"]), int(asked.get("maxResults", GROUP_PAGE))
        group = self.dingtalk_groups[key]
        start = _cursor_start(asked.get("nextToken"), key) or 0
        members = self.dingtalk_members.get(group, DINGTALK_MEMBERS)
        page, end = members[start : start + size], start + size
        read = self.dingtalk_group_read.get(key, set())
        answer: dict[str, Any] = {
            "sendStatus": "SUCCESS",
            "readUserIds": [member for member in page if member in read],
            "hasMore": end < len(members),
        }
        if answer["hasMore"]:
            answer["nextToken"] = dingtalk_page_token(key, end)
        return web.json_response(answer)

    def _group_query_refusal(self, asked: dict[str, Any]) -> tuple[str, str] | None:
        """The code and message of DingTalk's 400 for a group read query, if it refuses it."""
        key, size = str(asked.get("processQueryKey")), asked.get("maxResults", GROUP_PAGE)
        group = self.dingtalk_groups.get(key)
        if not asked.get("robotCode"):
            return "invalidParameter.robotCode.missing", "缺少robotCode"
        if group is None:
            return "invalid.processQueryKey", "无效的processQueryKey"
        if asked.get("openConversationId") != group:
            return "invalid.openConversationId", "无效的openConversationId"
        if not isinstance(size, int) or not 0 < size <= GROUP_PAGE:
            return "invalidParameter.pageSize.invalid", "无效的maxResults"
        if _cursor_start(asked.get("nextToken"), key) is None:
            return "invalidParameter.cursor.invalid", "无效的nextToken"
        if key in self.dingtalk_not_ready:
            return "processQueryKey.expireTime", "processQueryKey还未生成消息查询数据或已过期"
        return None

    async def feishu_token(self, request: web.Request) -> web.Response:
        def issue() -> None:
            self.tokens_issued += 1

        self._record(issue)
        token = f"tok-{self.tokens_issued}"
        return web.json_response({"code": 0, "tenant_access_token": token, "expire": 7200})

    async def feishu_send(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        body = await request.json()
        if self.fail_sends > 0 or (self.failure_rate and self._rng.random() < self.failure_rate):
            self.fail_sends = max(0, self.fail_sends - 1)
            self._record(lambda: None)
            return web.Response(status=500, text="down")
        if token in self.expired_tokens:
            self._record(lambda: None)
            return web.json_response({"code": 99991663, "msg": "tenant access token invalid"})
        if body.get("receive_id") in self.refused:
            self._record(lambda: None)
            return web.json_response(
                {"code": 230002, "msg": "Bot/User can NOT be out of the chat."}
            )
        entry = {**body, "content": json.loads(body["content"])}
        self._record(lambda: self.sent.append(Sent(token, entry)))
        # Feishu answers the message it made, named by its message_id.
        sent = {"message_id": f"om_sent_{len(self.sent)}", "chat_id": body.get("receive_id")}
        return web.json_response({"code": 0, "msg": "success", "data": sent})

    async def feishu_user(self, request: web.Request) -> web.Response:
        """Feishu's contact API (``contact/v3/users/:user_id``): the user's verified mobile."""
        user = request.match_info["user_id"]
        if request.query.get("user_id_type") != "open_id" or user not in self.directory:
            return web.json_response({"code": 41050, "msg": "no user authority error"})
        found = {"open_id": user, "name": "Li", "mobile": self.directory[user]}
        return web.json_response({"code": 0, "msg": "success", "data": {"user": found}})

    async def wecom_user(self, request: web.Request) -> web.Response:
        """WeCom's ``user/get``: the member's mobile (when the app may read it)."""
        user = request.query.get("userid", "")
        if user not in self.directory:
            return web.json_response({"errcode": 60111, "errmsg": "invalid userid"})
        return web.json_response({"errcode": 0, "userid": user, "mobile": self.directory[user]})

    async def dingtalk_user(self, request: web.Request) -> web.Response:
        """DingTalk's ``topapi/v2/user/get`` on the older API host (``access_token`` in the
        query): a member's details, the mobile in the national form beside its ``state_code``."""
        token = request.query.get("access_token", "")
        body = await request.json()
        self._record(lambda: self.lookups.append((token, body)))
        if token in self.expired_tokens:
            return web.json_response({"errcode": 40014, "errmsg": "不合法的access_token"})
        user = str(body.get("userid", ""))
        if user not in self.directory:
            return web.json_response(
                {"errcode": 60121, "errmsg": "找不到该用户", "request_id": "req-1"}
            )
        result: dict[str, Any] = {
            "userid": user,
            "unionid": f"union-{user}",
            "name": "李雷",
            "active": True,
            "hide_mobile": False,
            "dept_id_list": [1],
        }
        if self.directory[user]:  # empty: an app without the permission gets no mobile
            result.update(mobile=self.directory[user], state_code="86")
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "result": result, "request_id": "req-1"}
        )

    async def healthy(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


def dingtalk_page_token(key: str, start: int) -> str:
    """The stand-in's ``nextToken`` of the page of ``key``'s readers starting at ``start``."""
    return base64.b64encode(f"{key}|{start}".encode()).decode()


def _cursor_start(token: object, key: str) -> int | None:
    """Where the stand-in's ``nextToken`` for ``key`` starts (0 without one); None: not ours."""
    if token is None or token == "":
        return 0
    try:
        named, _, start = base64.b64decode(str(token), validate=True).decode().rpartition("|")
    except ValueError:
        return None
    return int(start) if named == key and start.isdigit() else None


def recommendation_cards(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Recommendation cards as ``action_recommend`` sends them (actions/service.py): the generic
    template, each card with "Details" and "Not interested" feedback and "More like this"."""
    elements = [
        {
            "title": title,
            "subtitle": "同类热销",
            "details": title,
            "buttons": [
                {
                    "type": "recommendation_feedback",
                    "title": "看看详情",
                    "event": "click",
                    "item_id": item,
                },
                {
                    "type": "recommendation_feedback",
                    "title": "不感兴趣",
                    "event": "dismiss",
                    "item_id": item,
                },
                {
                    "type": "postback",
                    "title": "更多类似",
                    "payload": '/ask_recommendation{"similar_to":"' + item + '"}',
                },
            ],
        }
        for item, title in items
    ]
    return {
        "attachment": {
            "type": "template",
            "payload": {"template_type": "generic", "elements": elements},
        }
    }


@contextmanager
def running(stand_in: AppStandIn, prefix: str = "/cgi-bin") -> Iterator[AppStandIn]:
    """Serve ``stand_in`` on its port in a thread until the block ends."""
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get(f"{prefix}/token", stand_in.token)
    app.router.add_get(f"{prefix}/gettoken", stand_in.token)
    app.router.add_post(f"{prefix}/message/custom/send", stand_in.send)
    app.router.add_post(f"{prefix}/message/send", stand_in.send)
    app.router.add_post(f"{prefix}/message/template/send", stand_in.template_send)
    app.router.add_get(f"{prefix}/media/get", stand_in.media_get)
    app.router.add_post("/webhooks/rest/webhook", stand_in.rasa)
    app.router.add_post("/bot{token}/{method}", stand_in.telegram)
    app.router.add_get("/file/bot{token}/f/{name}", stand_in.telegram_file)
    app.router.add_post("/api/{method}", stand_in.slack)
    app.router.add_get("/api/{method}", stand_in.slack_get)
    app.router.add_get("/slack-files/{name}", stand_in.slack_file)
    app.router.add_post("/v1.0/oauth2/accessToken", stand_in.dingtalk_token)
    app.router.add_post("/v1.0/robot/oToMessages/batchSend", stand_in.dingtalk_send)
    app.router.add_post("/v1.0/robot/groupMessages/send", stand_in.dingtalk_send)
    app.router.add_get("/v1.0/robot/oToMessages/readStatus", stand_in.dingtalk_read_status)
    app.router.add_post("/v1.0/robot/groupMessages/query", stand_in.dingtalk_group_read_status)
    app.router.add_post("/topapi/v2/user/get", stand_in.dingtalk_user)
    app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", stand_in.feishu_token)
    app.router.add_post("/open-apis/im/v1/messages", stand_in.feishu_send)
    app.router.add_get("/open-apis/contact/v3/users/{user_id}", stand_in.feishu_user)
    app.router.add_get(f"{prefix}/user/get", stand_in.wecom_user)
    app.router.add_get("/health", stand_in.healthy)
    app.router.add_get("/", stand_in.healthy)
    runner = web.AppRunner(app)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", stand_in.port).start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(WAIT_S)
    try:
        yield stand_in
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT_S)


# The credentials the channel tests sign with, one set per app (tests/test_channels_<app>.py use
# the same values), as environment settings pointing every app's API at ``url``.
APP_CREDENTIALS = {
    "wechat": {
        "APP_ID": "wx1234567890abcdef",
        "APP_SECRET": "app-secret",
        "TOKEN": "hub-test-token",
        "AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    },
    "wecom": {
        "CORP_ID": "ww0123456789abcdef",
        "AGENT_ID": "1000002",
        "SECRET": "corp-secret",
        "TOKEN": "wecom-test-token",
        "AES_KEY": "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
    },
    "telegram": {
        "BOT_TOKEN": "123456:ABC-test",
        "SECRET_TOKEN": "hub_secret-123",
        "BOT_USERNAME": "shop_bot",
    },
    "slack": {"BOT_TOKEN": "xoxb-test-token", "SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5"},
    "feishu": {
        "APP_ID": "cli_test",
        "APP_SECRET": "app-secret",
        "VERIFICATION_TOKEN": "feishu-verification-token",
        "ENCRYPT_KEY": "feishu-encrypt-key-for-tests",
    },
    "dingtalk": {
        "APP_KEY": "dingbench0000",
        "APP_SECRET": "dingtalk-app-secret-for-tests",
        "ROBOT_CODE": "dingbench0000",
    },
}


def app_settings_env(url: str) -> dict[str, str]:
    """``BOT_<APP>_*`` settings enabling every app, each app's API at ``url``."""
    env = {
        f"BOT_{app.upper()}_{name}": value
        for app, values in APP_CREDENTIALS.items()
        for name, value in values.items()
    }
    for app in APP_CREDENTIALS:
        env[f"BOT_{app.upper()}_API_URL"] = f"{url}/api" if app == "slack" else url
    env["BOT_DINGTALK_OAPI_URL"] = url  # the directory's host
    return env


def drain(client: TestClient) -> None:
    """Wait until every enabled app's deliveries being handled and sends in flight are done."""
    for enabled in client.app.state.apps.enabled:  # type: ignore[attr-defined]
        client.portal.call(enabled.connector.drain)  # type: ignore[union-attr]
