"""The DingTalk channel end to end in-process: robot callbacks as DingTalk documents them, signed
with its timestamp + HMAC-SHA256 scheme, posted to the hub (real app, real SQLite), a local
server standing in for DingTalk's API and Rasa."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.app import Settings, create_app
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
    hub: TestClient, stand_in: AppStandIn
) -> None:
    group = {"conversationType": "2", "conversationId": "cid-group-9"}
    post(hub, callback("msg-5", "lunch?", **group))
    post(hub, callback("msg-6", "where is my order", isInAtList=True, **group))
    drain(hub)
    assert [seen["message"] for seen in stand_in.rasa_seen] == ["where is my order"]
    assert [(s.body["path"], s.body.get("openConversationId")) for s in stand_in.sent] == [
        ("/v1.0/robot/groupMessages/send", "cid-group-9")
    ]


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
