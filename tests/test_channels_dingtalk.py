"""The DingTalk channel end to end in-process: robot callbacks as DingTalk documents them, signed
with its timestamp + HMAC-SHA256 scheme, posted to the hub (real app, real SQLite), a local
server standing in for DingTalk's API and Rasa; and the robot API's read-status questions, of
the stand-in and of answers DingTalk should never give."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.app import Settings, create_app
from bot.outbox import SendFailed
from channels.dingtalk import DingTalkApi, render
from tests.app_standin import AppStandIn, drain
from tests.conftest import query_hub_db

APP_KEY = "dingbench0000"
APP_SECRET = "dingtalk-app-secret-for-tests"
STAFF = "manager4711"


def settings_for(var_dir: Path, stand_in: AppStandIn) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=var_dir,
        rasa_port=stand_in.port,
        actions_port=stand_in.port,
        dingtalk_app_key=APP_KEY,
        dingtalk_app_secret=APP_SECRET,
        dingtalk_robot_code=APP_KEY,
        dingtalk_api_url=stand_in.url,
        outbox_retry_s=3600.0,
    )


def documented_sign(timestamp: str, secret: str) -> str:
    """DingTalk's documented example, written out independently of the hub's code."""
    string_to_sign = f"{timestamp}\n{secret}"
    code = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(code.digest()).decode("utf-8")


def callback(msg_id: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "msgId": msg_id,
        "msgtype": "text",
        "text": {"content": text},
        "conversationType": "1",
        "conversationId": "cid-private",
        "senderStaffId": STAFF,
        "senderNick": "Li",
        "robotCode": APP_KEY,
        "isInAtList": False,
        "createAt": int(time.time() * 1000),
        **extra,
    }


def post(
    client: TestClient,
    body: dict[str, Any],
    *,
    secret: str = APP_SECRET,
    timestamp_ms: int | None = None,
) -> Any:
    stamp = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    headers = {"timestamp": stamp, "sign": documented_sign(stamp, secret)}
    return client.post("/channels/dingtalk", json=body, headers=headers)


@pytest.fixture
def hub(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path, stand_in))) as client:
        yield client


def test_private_message_is_answered_once_with_numbered_choices(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    for _ in range(3):  # DingTalk retries a callback that timed out
        response = post(hub, callback("msg-1", "menu"))
        assert (response.status_code, response.json()) == (200, {})
    drain(hub)
    assert [s.body for s in stand_in.sent] == [
        {
            "path": "/v1.0/robot/oToMessages/batchSend",
            "robotCode": APP_KEY,
            "userIds": [STAFF],
            "msgKey": "sampleText",
            "msgParam": {"content": "Pick one\n1. Orders\n2. Returns"},
        }
    ]
    post(hub, callback("msg-2", "1"))
    drain(hub)
    assert [seen["message"] for seen in stand_in.rasa_seen] == ["menu", "/check_order_status"]
    rows = query_hub_db(tmp_path, "SELECT channel, sender FROM conversations")
    assert [tuple(r) for r in rows] == [("dingtalk", f"user:{STAFF}")]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"secret": "not-the-app-secret"}, 401),
        ({"timestamp_ms": int(time.time() * 1000) - 3_600_000}, 403),
        ({"timestamp_ms": int(time.time() * 1000) + 3_600_000}, 403),
    ],
)
def test_bad_sign_or_replay_is_refused_and_nothing_stored(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path, change: dict[str, Any], status: int
) -> None:
    assert post(hub, callback("msg-3", "hi"), **change).status_code == status
    drain(hub)
    assert query_hub_db(tmp_path, "SELECT COUNT(*) FROM messages")[0][0] == 0
    assert stand_in.sent == []


def test_missing_headers_are_refused(hub: TestClient) -> None:
    response = hub.post("/channels/dingtalk", json=callback("msg-4", "hi"))
    assert response.status_code == 403
    assert response.json() == {"detail": "the timestamp header must be milliseconds since 1970"}


def test_group_messages_only_when_the_robot_is_mentioned(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    group = {"conversationType": "2", "conversationId": "cid-group-9"}
    post(hub, callback("msg-5", "lunch?", **group))
    post(hub, callback("msg-6", "where is my order", isInAtList=True, **group))
    drain(hub)
    assert [seen["message"] for seen in stand_in.rasa_seen] == ["where is my order"]
    assert [(s.body["path"], s.body.get("openConversationId")) for s in stand_in.sent] == [
        ("/v1.0/robot/groupMessages/send", "cid-group-9")
    ]
    # The group send's processQueryKey is kept, as a one-to-one send's: its read status.
    rows = query_hub_db(tmp_path, "SELECT recipient, receipt FROM outbox_messages")
    assert [tuple(r) for r in rows] == [("group:cid-group-9", "pqk+1/=")]


def test_token_expiry_refreshes_once_and_unknown_user_gives_up(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    post(hub, callback("msg-7", "one"))
    drain(hub)
    stand_in.expired_tokens.add("tok-1")
    post(hub, callback("msg-8", "two"))
    drain(hub)
    assert [(s.token, s.body["msgParam"]["content"]) for s in stand_in.sent] == [
        ("tok-1", "echo: one"),
        ("tok-2", "echo: two"),
    ]
    stand_in.refused[STAFF] = 1
    post(hub, callback("msg-9", "three"))
    drain(hub)
    rows = query_hub_db(tmp_path, "SELECT status FROM outbox_messages ORDER BY id")
    assert [r["status"] for r in rows] == ["sent", "sent", "gave_up"]


# ---- read status ---------------------------------------------------------------------------


def api_on(url: str, http: httpx.AsyncClient) -> DingTalkApi:
    return DingTalkApi(url, APP_KEY, APP_SECRET, APP_KEY, http)


async def test_read_status_is_asked_of_the_api_that_knows_the_recipient(
    stand_in: AppStandIn,
) -> None:
    """A group message's key is asked of ``groupMessages/query`` with its group, a one-to-one
    message's of ``oToMessages/readStatus``; a key asked with another group, of the other API,
    or one DingTalk never gave, is DingTalk's refusal, not a read."""
    async with httpx.AsyncClient() as http:
        api = api_on(stand_in.url, http)
        to_group = await api.send("group:cid-g", render("新品上架", None))
        to_user = await api.send(f"user:{STAFF}", render("新品上架", None))
        assert (to_group, to_user) == ("pqk+1/=", "pqk+2/=")
        assert await api.read_at("group:cid-g", "pqk+1/=") is None
        stand_in.dingtalk_group_read["pqk+1/="] = {"member-3"}
        assert await api.read_at("group:cid-g", "pqk+1/=") is not None
        assert await api.read_at(f"user:{STAFF}", "pqk+2/=") is None
        refused = {
            (
                "group:cid-other",
                "pqk+1/=",
            ): "400: invalid.openConversationId 无效的openConversationId",
            ("group:cid-g", "pqk+2/="): "400: invalid.processQueryKey 无效的processQueryKey",
            ("group:cid-g", "pqk-not-ours"): "400: invalid.processQueryKey 无效的processQueryKey",
            (f"user:{STAFF}", "pqk+1/="): "400: invalidParameter.processQueryKey no such message",
        }
        for (recipient, key), answer in refused.items():
            with pytest.raises(SendFailed) as failed:
                await api.read_at(recipient, key)
            assert str(failed.value) == f"DingTalk's read status answered HTTP {answer}"
    assert stand_in.read_questions[0] == {
        "openConversationId": "cid-g",
        "robotCode": APP_KEY,
        "processQueryKey": "pqk+1/=",
        "maxResults": 200,
    }


def endless(page: int) -> dict[str, Any]:
    return {"sendStatus": "SUCCESS", "readUserIds": [], "hasMore": True, "nextToken": f"t{page}"}


@pytest.mark.parametrize(
    ("pages", "failure"),
    [
        (
            [{"sendStatus": "SUCCESS", "readUserIds": [], "hasMore": True}],
            "DingTalk's group read status has more pages but no new nextToken",
        ),
        (
            [endless(1), endless(1)],
            "DingTalk's group read status has more pages but no new nextToken",
        ),
        (
            [endless(n) for n in range(60)],
            "DingTalk's group read status went on past 50 pages of 200 members",
        ),
        (
            [{"sendStatus": "SUCCESS", "readUserIds": "member-1"}],
            "DingTalk's group read status has a readUserIds that is no list",
        ),
        ([{"requestid": "r-1"}], "DingTalk's group read status has no readUserIds or sendStatus"),
        (
            [endless(1), {"code": "invalidParameter.cursor.invalid", "message": "无效的nextToken"}],
            "DingTalk's read status answered HTTP 400: invalidParameter.cursor.invalid 无效的nextToken",
        ),
    ],
    ids=[
        "more-without-token",
        "token-repeated",
        "no-end",
        "ids-not-a-list",
        "no-status",
        "error-mid-way",
    ],
)
async def test_a_group_read_answer_dingtalk_does_not_document_is_a_clear_failure(
    pages: list[dict[str, Any]], failure: str
) -> None:
    """Answers the stand-in never gives (DingTalk should not either): the question fails with
    what was wrong, and nothing is read."""
    answers = iter(pages)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1.0/oauth2/accessToken":
            return httpx.Response(200, json={"accessToken": "tok", "expireIn": 7200})
        body = next(answers)
        return httpx.Response(400 if "code" in body else 200, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(SendFailed) as failed:
            await api_on("https://api.dingtalk.test", http).read_at("group:cid-g", "k")
    assert str(failed.value) == failure


async def test_a_group_read_answer_without_readers_is_unread() -> None:
    """``readUserIds`` left out of a SUCCESS answer (an SDK model's optional field): nobody."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1.0/oauth2/accessToken":
            return httpx.Response(200, json={"accessToken": "tok", "expireIn": 7200})
        return httpx.Response(200, json={"sendStatus": "SUCCESS", "hasMore": False})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        assert await api_on("https://api.dingtalk.test", http).read_at("group:cid-g", "k") is None
