"""The Feishu channel end to end in-process: v2 events encrypted and signed as Feishu documents
them (AES-256-CBC with the SHA-256 of the Encrypt Key; lark-oapi only decrypts, so the test
encrypts with pycryptodome, lark-oapi's own crypto library), posted to the hub (real app, real
SQLite), a local server standing in for Feishu's API and Rasa."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from Crypto.Cipher import AES
from Crypto.Util.Padding import pad
from fastapi.testclient import TestClient

from bot.app import Settings, create_app
from tests.app_standin import AppStandIn, drain
from tests.conftest import query_hub_db

ENCRYPT_KEY = "feishu-encrypt-key-for-tests"
VERIFICATION = "feishu-verification-token"
CHAT = "oc_p2p_customer"


def settings_for(var_dir: Path, stand_in: AppStandIn) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=var_dir,
        rasa_port=stand_in.port,
        actions_port=stand_in.port,
        feishu_app_id="cli_test",
        feishu_app_secret="app-secret",
        feishu_verification_token=VERIFICATION,
        feishu_encrypt_key=ENCRYPT_KEY,
        feishu_api_url=stand_in.url,
        outbox_retry_s=3600.0,
    )


def encrypt(plaintext: str, key: str = ENCRYPT_KEY) -> str:
    iv = os.urandom(16)
    cipher = AES.new(hashlib.sha256(key.encode()).digest(), AES.MODE_CBC, iv)
    return base64.b64encode(iv + cipher.encrypt(pad(plaintext.encode(), 16))).decode()


def event_header(event_id: str, event_type: str, **header: str) -> dict[str, str]:
    """The schema 2.0 header of an event of the test app, as Feishu documents it."""
    return {
        "event_id": event_id,
        "event_type": event_type,
        "create_time": str(int(time.time() * 1000)),
        "token": VERIFICATION,
        "app_id": "cli_test",
        "tenant_key": "t1",
        **header,
    }


def message_event(event_id: str, message_id: str, text: str, **message: Any) -> dict[str, Any]:
    """An ``im.message.receive_v1`` event (schema 2.0) as Feishu documents it."""
    return {
        "schema": "2.0",
        "header": event_header(event_id, "im.message.receive_v1"),
        "event": {
            "sender": {"sender_id": {"open_id": "ou_customer"}, "sender_type": "user"},
            "message": {
                "message_id": message_id,
                "chat_id": CHAT,
                "chat_type": "p2p",
                "message_type": "text",
                "content": json.dumps({"text": text}),
                **message,
            },
        },
    }


def post(
    client: TestClient,
    event: dict[str, Any],
    *,
    key: str = ENCRYPT_KEY,
    sign_key: str = ENCRYPT_KEY,
    timestamp: int | None = None,
) -> Any:
    body = json.dumps({"encrypt": encrypt(json.dumps(event), key)}).encode()
    stamp, nonce = str(int(time.time()) if timestamp is None else timestamp), "n0nce"
    signature = hashlib.sha256((stamp + nonce + sign_key).encode() + body).hexdigest()
    headers = {
        "content-type": "application/json",
        "X-Lark-Request-Timestamp": stamp,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": signature,
    }
    return client.post("/channels/feishu", content=body, headers=headers)


@pytest.fixture
def hub(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path, stand_in))) as client:
        yield client


def test_url_verification_needs_the_token(hub: TestClient) -> None:
    check = {"challenge": "ch-1", "token": VERIFICATION, "type": "url_verification"}
    response = post(hub, check)
    assert (response.status_code, response.json()) == (200, {"challenge": "ch-1"})
    response = post(hub, {**check, "token": "guessed"})
    assert response.status_code == 401


def test_card_buttons_and_a_tap_come_back_as_the_payload(
    hub: TestClient, stand_in: AppStandIn
) -> None:
    for _ in range(3):  # a redelivered event: one reply
        assert post(hub, message_event("ev-1", "om_1", "menu")).status_code == 200
    drain(hub)
    assert len(stand_in.sent) == 1
    sent = stand_in.sent[0].body
    assert (sent["receive_id"], sent["msg_type"]) == (CHAT, "interactive")
    assert sent["content"]["elements"][1] == {
        "tag": "action",
        "actions": [
            {
                "tag": "button",
                "text": {"tag": "plain_text", "content": "Orders"},
                "type": "default",
                "value": {"payload": "/check_order_status", "title": "Orders"},
            },
            {
                "tag": "button",
                "text": {"tag": "plain_text", "content": "Returns"},
                "type": "default",
                "value": {"payload": "/return_request", "title": "Returns"},
            },
        ],
    }
    tap = {
        "schema": "2.0",
        "header": {"event_id": "ev-2", "event_type": "card.action.trigger", "token": VERIFICATION},
        "event": {
            "operator": {"open_id": "ou_customer"},
            "action": {
                "tag": "button",
                "value": {"payload": "/return_request", "title": "Returns"},
            },
            "context": {"open_message_id": "om_card", "open_chat_id": CHAT},
        },
    }
    post(hub, tap)
    drain(hub)
    assert [seen["message"] for seen in stand_in.rasa_seen] == ["menu", "/return_request"]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"key": "another-key", "sign_key": "another-key"}, 400),
        ({"sign_key": "another-key"}, 401),
        ({"timestamp": int(time.time()) - 3600}, 403),
    ],
)
def test_refused_events_store_nothing(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path, change: dict[str, Any], status: int
) -> None:
    assert post(hub, message_event("ev-3", "om_3", "hi"), **change).status_code == status
    drain(hub)
    assert query_hub_db(tmp_path, "SELECT COUNT(*) FROM messages")[0][0] == 0
    assert stand_in.sent == []


def test_wrong_verification_token_is_refused(hub: TestClient, tmp_path: Path) -> None:
    event = message_event("ev-4", "om_4", "hi")
    event["header"]["token"] = "guessed"
    assert post(hub, event).status_code == 401
    assert query_hub_db(tmp_path, "SELECT COUNT(*) FROM messages")[0][0] == 0


def test_groups_only_when_mentioned_and_token_expiry(hub: TestClient, stand_in: AppStandIn) -> None:
    group = {"chat_id": "oc_group", "chat_type": "group"}
    post(hub, message_event("ev-5", "om_5", "lunch?", **group))
    mention = [{"key": "@_user_1", "id": {"open_id": "ou_bot"}, "name": "ShopBot"}]
    post(
        hub, message_event("ev-6", "om_6", "@_user_1 where is my order", mentions=mention, **group)
    )
    drain(hub)
    assert [seen["message"] for seen in stand_in.rasa_seen] == ["where is my order"]
    stand_in.expired_tokens.add("tok-1")
    post(hub, message_event("ev-7", "om_7", "again"))
    drain(hub)
    assert [(s.token, s.body["receive_id"]) for s in stand_in.sent] == [
        ("tok-1", "oc_group"),
        ("tok-2", CHAT),
    ]
