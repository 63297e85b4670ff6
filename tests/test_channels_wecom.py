"""The WeCom channel end to end in-process: callbacks encrypted with wechatpy's WeCom crypto
posted to the hub (real app, real SQLite), a local server standing in for WeCom's API and Rasa."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.app import Settings, create_app
from tests.app_standin import AppStandIn, drain
from tests.conftest import query_hub_db

CORP_ID = "ww0123456789abcdef"
AGENT_ID = "1000002"
TOKEN = "wecom-test-token"
AES_KEY = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
USER = "zhangsan"


def settings_for(var_dir: Path, stand_in: AppStandIn) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=var_dir,
        rasa_port=stand_in.port,
        actions_port=stand_in.port,
        wecom_corp_id=CORP_ID,
        wecom_agent_id=AGENT_ID,
        wecom_secret="corp-secret",
        wecom_token=TOKEN,
        wecom_aes_key=AES_KEY,
        wecom_api_url=stand_in.url,
        outbox_retry_s=3600.0,
    )


def text_xml(content: str, msg_id: int, agent: str = AGENT_ID) -> str:
    """A text message as WeCom documents it (inside the encrypted envelope)."""
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{USER}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId>"
        f"<AgentID>{agent}</AgentID></xml>"
    )


def envelope(text: str, *, token: str = TOKEN, timestamp: int | None = None) -> dict[str, Any]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = uuid.uuid4().hex[:10]
    xml = WeChatCrypto(token, AES_KEY, CORP_ID).encrypt_message(text, nonce, stamp)
    signature = xml.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    encrypted = xml.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    return {
        "params": {"msg_signature": signature, "timestamp": stamp, "nonce": nonce},
        "xml": xml,
        "encrypted": encrypted,
    }


def post(client: TestClient, xml: str, **change: Any) -> Any:
    sealed = envelope(xml, **change)
    return client.post("/channels/wecom", params=sealed["params"], content=sealed["xml"].encode())


@pytest.fixture
def hub(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path, stand_in))) as client:
        yield client


def test_callback_url_check_answers_the_decrypted_echostr(hub: TestClient) -> None:
    sealed = envelope("echo-4711")
    params = {**sealed["params"], "echostr": sealed["encrypted"]}
    response = hub.get("/channels/wecom", params=params)
    assert (response.status_code, response.text) == (200, "echo-4711")
    wrong = envelope("echo-4711", token="not-ours")
    params = {**wrong["params"], "echostr": wrong["encrypted"]}
    response = hub.get("/channels/wecom", params=params)
    assert response.status_code == 401


def test_message_is_answered_once_through_the_app_message_api(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    for _ in range(3):  # WeCom retries a callback it got no answer to in 5 s
        response = post(hub, text_xml("menu", 501))
        assert (response.status_code, response.text) == (200, "")
    drain(hub)
    assert [s.body for s in stand_in.sent] == [
        {
            "touser": USER,
            "agentid": int(AGENT_ID),
            "msgtype": "text",
            "text": {"content": "Pick one\n1. Orders\n2. Returns"},
        }
    ]
    post(hub, text_xml("2", 502))  # the numbered choice
    drain(hub)
    assert [seen["message"] for seen in stand_in.rasa_seen] == ["menu", "/return_request"]
    stored = query_hub_db(tmp_path, "SELECT text FROM messages WHERE direction = 'in'")
    assert [r["text"] for r in stored] == ["menu", "Returns"]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"token": "not-ours"}, 401),
        ({"timestamp": int(time.time()) - 301}, 403),
    ],
)
def test_refused_callbacks_store_nothing(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path, change: dict[str, Any], status: int
) -> None:
    assert post(hub, text_xml("hi", 601), **change).status_code == status
    drain(hub)
    assert query_hub_db(tmp_path, "SELECT COUNT(*) FROM messages")[0][0] == 0
    assert query_hub_db(tmp_path, "SELECT COUNT(*) FROM outbox_inbound")[0][0] == 0


def test_message_for_another_app_is_ignored(hub: TestClient, tmp_path: Path) -> None:
    assert post(hub, text_xml("hi", 701, agent="999")).status_code == 200
    drain(hub)
    assert query_hub_db(tmp_path, "SELECT COUNT(*) FROM messages")[0][0] == 0


def test_token_expiry_and_a_user_outside_the_app(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    post(hub, text_xml("one", 801))
    drain(hub)
    stand_in.expired_tokens.add("tok-1")
    post(hub, text_xml("two", 802))
    drain(hub)
    assert [(s.token, s.body["text"]["content"]) for s in stand_in.sent] == [
        ("tok-1", "echo: one"),
        ("tok-2", "echo: two"),
    ]
    stand_in.refused[USER] = 81013
    post(hub, text_xml("three", 803))
    drain(hub)
    rows = query_hub_db(tmp_path, "SELECT status, last_error FROM outbox_messages ORDER BY id")
    assert [r["status"] for r in rows] == ["sent", "sent", "gave_up"]
    assert "visible range" in rows[2]["last_error"]
