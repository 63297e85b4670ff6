"""The WeChat Official Account channel end to end in-process: messages encrypted with wechatpy's
own crypto posted to the hub (real app, real SQLite), a local server standing in for WeChat's API
and for Rasa, recording what the hub sent."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from wechatpy.crypto import WeChatCrypto

from bot.app import Settings, create_app
from bot.app import app as cli
from channels.connector import REPLIES
from tests.app_standin import AppStandIn, drain
from tests.conftest import query_hub_db

APP_ID = "wx1234567890abcdef"
TOKEN = "hub-test-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues
OPENID = "oAbCdEf-customer-1"


def settings_for(var_dir: Path, stand_in: AppStandIn, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "var_dir": var_dir,
        "rasa_port": stand_in.port,
        "actions_port": stand_in.port,
        "wechat_app_id": APP_ID,
        "wechat_app_secret": "app-secret",
        "wechat_token": TOKEN,
        "wechat_aes_key": AES_KEY,
        "wechat_api_url": stand_in.url,
        "outbox_retry_s": 3600.0,  # the tests run the retry job themselves
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def text_xml(content: str, msg_id: int, sender: str = OPENID, extra: str = "") -> str:
    """A text message as WeChat documents it (the plaintext inside the encrypted envelope)."""
    return (
        f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName>"
        f"<FromUserName><![CDATA[{sender}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId>{extra}</xml>"
    )


def media_xml(kind: str, media_id: str, msg_id: int, extra: str = "") -> str:
    return (
        f"<xml><ToUserName><![CDATA[gh_account]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>"
        f"<MediaId><![CDATA[{media_id}]]></MediaId>{extra}<MsgId>{msg_id}</MsgId></xml>"
    )


def plain_signature(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


def signed_post(
    client: TestClient,
    xml: str,
    *,
    token: str = TOKEN,
    timestamp: int | None = None,
    aes_key: str = AES_KEY,
) -> Any:
    """POST ``xml`` as WeChat does in safe mode: encrypted and signed with wechatpy's crypto."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = uuid.uuid4().hex[:10]
    envelope = WeChatCrypto(token, aes_key, APP_ID).encrypt_message(xml, nonce, stamp)
    msg_signature = envelope.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    params = {
        "signature": plain_signature(token, stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
        "openid": OPENID,
        "encrypt_type": "aes",
        "msg_signature": msg_signature,
    }
    return client.post("/channels/wechat", params=params, content=envelope.encode())


@pytest.fixture
def hub(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path, stand_in))) as client:
        yield client


def retry_now(client: TestClient, var_dir: Path) -> dict[str, Any]:
    """Make every pending outbox message due and run the outbox job once."""
    with sqlite3.connect(var_dir / "hub.db") as db:
        db.execute("UPDATE outbox_messages SET next_attempt_at = '2000-01-01 00:00:00.000000'")
    apps = client.app.state.apps  # type: ignore[attr-defined]
    result: dict[str, Any] = client.portal.call(apps.deliver_due)  # type: ignore[union-attr]
    return result


def test_server_url_check_echoes_only_with_the_right_signature(hub: TestClient) -> None:
    stamp, nonce = str(int(time.time())), "n0nce"
    good = {
        "signature": plain_signature(TOKEN, stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
        "echostr": "e-123",
    }
    response = hub.get("/channels/wechat", params=good)
    assert (response.status_code, response.text) == (200, "e-123")
    bad = {**good, "signature": plain_signature("other-token", stamp, nonce)}
    response = hub.get("/channels/wechat", params=bad)
    assert response.status_code == 401
    assert response.json() == {"detail": "signature does not match BOT_WECHAT_TOKEN"}


def test_text_message_is_acked_at_once_and_answered_through_the_api(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    response = signed_post(hub, text_xml("where is my parcel", 1001))
    assert (response.status_code, response.text) == (200, "success")
    drain(hub)
    stand_in.wait_for(lambda: len(stand_in.sent) == 1, "the reply")
    assert stand_in.sent[0].body == {
        "touser": OPENID,
        "msgtype": "text",
        "text": {"content": "echo: where is my parcel"},
    }
    assert stand_in.tokens_issued == 1
    rows = query_hub_db(tmp_path, "SELECT channel, sender FROM conversations")
    assert [tuple(r) for r in rows] == [("wechat", OPENID)]
    outbox = query_hub_db(tmp_path, "SELECT recipient, status, attempts FROM outbox_messages")
    assert [tuple(r) for r in outbox] == [(OPENID, "sent", 1)]


def test_duplicate_delivery_gets_one_reply(hub: TestClient, stand_in: AppStandIn) -> None:
    xml = text_xml("hello", 2002)
    # WeChat retries after 5 s, three times, when it did not get "success" in time.
    for _ in range(3):
        response = signed_post(hub, xml)
        assert (response.status_code, response.text) == (200, "success")
    drain(hub)
    assert stand_in.texts() == ["echo: hello"]
    assert [seen["message"] for seen in stand_in.rasa_seen] == ["hello"]


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        ({"token": "wrong-token"}, 401, "signature does not match BOT_WECHAT_TOKEN"),
        (
            {"aes_key": "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210abcdefg"},
            400,
            "the message is not WeChat's encrypted XML",
        ),
        # Clock skews, read when the test runs (not when it is collected).
        ({"skew_s": -3600}, 403, "timestamp is more than 300 s"),
        ({"skew_s": 3600}, 403, "timestamp is more than 300 s"),
    ],
)
def test_refused_webhooks_store_nothing(
    hub: TestClient,
    stand_in: AppStandIn,
    tmp_path: Path,
    change: dict[str, Any],
    status: int,
    detail: str,
) -> None:
    if "skew_s" in change:
        change = {"timestamp": int(time.time()) + change["skew_s"]}
    response = signed_post(hub, text_xml("<script>alert(1)</script>", 3003), **change)
    assert response.status_code == status
    assert response.json()["detail"].startswith(detail)
    drain(hub)
    assert query_hub_db(tmp_path, "SELECT COUNT(*) FROM messages")[0][0] == 0
    assert query_hub_db(tmp_path, "SELECT COUNT(*) FROM outbox_inbound")[0][0] == 0
    assert stand_in.sent == []


def test_plaintext_post_is_refused_in_safe_mode(hub: TestClient, tmp_path: Path) -> None:
    stamp, nonce = str(int(time.time())), "abc"
    params = {"signature": plain_signature(TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce}
    response = hub.post("/channels/wechat", params=params, content=text_xml("hi", 1).encode())
    assert response.status_code == 401
    assert "encrypt_type=aes" in response.json()["detail"]
    assert query_hub_db(tmp_path, "SELECT COUNT(*) FROM messages")[0][0] == 0


@pytest.mark.parametrize(
    "body",
    [b"", b"not xml at all", b"<xml><Encrypt>AAAA</Encrypt></xml>", b"<xml>" * 1000],
)
def test_garbage_bodies_are_refused_with_a_reason(
    hub: TestClient, tmp_path: Path, body: bytes
) -> None:
    stamp, nonce = str(int(time.time())), "abc"
    params = {
        "signature": plain_signature(TOKEN, stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": "0" * 40,
    }
    response = hub.post("/channels/wechat", params=params, content=body)
    assert response.status_code in (400, 401)
    assert response.json()["detail"]
    assert query_hub_db(tmp_path, "SELECT COUNT(*) FROM messages")[0][0] == 0


def test_buttons_become_a_menu_and_a_tap_comes_back_as_the_payload(
    hub: TestClient, stand_in: AppStandIn
) -> None:
    signed_post(hub, text_xml("menu", 4001))
    drain(hub)
    stand_in.wait_for(lambda: len(stand_in.sent) == 1, "the menu")
    assert stand_in.sent[0].body == {
        "touser": OPENID,
        "msgtype": "msgmenu",
        "msgmenu": {
            "head_content": "Pick one",
            "list": [{"id": "1", "content": "Orders"}, {"id": "2", "content": "Returns"}],
            "tail_content": "",
        },
    }
    # Tapping "Returns" sends its text with the menu entry's id.
    signed_post(hub, text_xml("Returns", 4002, extra="<bizmsgmenuid>2</bizmsgmenuid>"))
    drain(hub)
    assert stand_in.rasa_seen[-1]["message"] == "/return_request"
    # A bare number answers the last menu too (numbered choices).
    signed_post(hub, text_xml("menu", 4003))
    drain(hub)
    signed_post(hub, text_xml("1", 4004))
    drain(hub)
    assert stand_in.rasa_seen[-1]["message"] == "/check_order_status"
    # A number out of range is just text.
    signed_post(hub, text_xml("menu", 4005))
    drain(hub)
    signed_post(hub, text_xml("7", 4006))
    drain(hub)
    assert stand_in.rasa_seen[-1]["message"] == "7"


def test_api_down_then_up_delivers_once_with_retries(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    stand_in.fail_sends = 2
    signed_post(hub, text_xml("are you there", 5001))
    drain(hub)
    assert stand_in.sent == []
    row = query_hub_db(tmp_path, "SELECT status, attempts, last_error FROM outbox_messages")[0]
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "HTTP 500" in row["last_error"]
    assert retry_now(hub, tmp_path) == {"wechat": {"pending": 1, "sent": 0, "gave_up": 0}}
    assert retry_now(hub, tmp_path) == {"wechat": {"pending": 0, "sent": 1, "gave_up": 0}}
    assert retry_now(hub, tmp_path) == {"wechat": {"pending": 0, "sent": 0, "gave_up": 0}}
    assert stand_in.texts() == ["echo: are you there"]
    row = query_hub_db(tmp_path, "SELECT status, attempts FROM outbox_messages")[0]
    assert (row["status"], row["attempts"]) == ("sent", 3)


def test_expired_token_is_refreshed_once_and_the_send_repeated(
    hub: TestClient, stand_in: AppStandIn
) -> None:
    signed_post(hub, text_xml("first", 6001))
    drain(hub)
    assert [s.token for s in stand_in.sent] == ["tok-1"]
    stand_in.expired_tokens.add("tok-1")  # WeChat answers 42001 from now on
    signed_post(hub, text_xml("second", 6002))
    drain(hub)
    assert [s.token for s in stand_in.sent] == ["tok-1", "tok-2"]
    assert stand_in.texts() == ["echo: first", "echo: second"]
    assert stand_in.tokens_issued == 2


def test_customer_silent_for_48_hours_is_given_up_with_a_clear_status(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    stand_in.refused[OPENID] = 45015
    signed_post(hub, text_xml("hello", 7001))
    drain(hub)
    row = query_hub_db(tmp_path, "SELECT status, attempts, last_error FROM outbox_messages")[0]
    assert (row["status"], row["attempts"]) == ("gave_up", 1)
    assert "48 hours" in row["last_error"]
    assert "45015" in row["last_error"]
    # Given up means never tried again.
    assert retry_now(hub, tmp_path) == {"wechat": {"pending": 0, "sent": 0, "gave_up": 0}}


def test_outbox_survives_a_hub_restart(tmp_path: Path, stand_in: AppStandIn) -> None:
    stand_in.fail_sends = 1_000
    with TestClient(create_app(settings_for(tmp_path, stand_in))) as first:
        signed_post(first, text_xml("kept across restarts", 8001))
        drain(first)
    assert stand_in.sent == []
    stand_in.fail_sends = 0
    with TestClient(create_app(settings_for(tmp_path, stand_in))) as second:
        retry_now(second, tmp_path)
    assert stand_in.texts() == ["echo: kept across restarts"]


def test_agent_reply_from_the_console_reaches_the_wechat_customer(
    hub: TestClient, stand_in: AppStandIn
) -> None:
    signed_post(hub, text_xml("hello", 9001))
    drain(hub)
    services = hub.app.state.services  # type: ignore[attr-defined]
    conversation_id = hub.portal.call(services.conversations.find, "wechat", OPENID)  # type: ignore[union-attr]
    assert conversation_id is not None

    async def agent_says() -> None:
        await services.conversations.post(conversation_id, "我是客服小李", author="agent")

    hub.portal.call(agent_says)  # type: ignore[union-attr]
    drain(hub)
    assert stand_in.texts() == ["echo: hello", "我是客服小李"]


def test_voice_with_wechat_recognition_is_read_as_text(
    hub: TestClient, stand_in: AppStandIn
) -> None:
    extra = "<Format><![CDATA[amr]]></Format><Recognition><![CDATA[查订单]]></Recognition>"
    signed_post(hub, media_xml("voice", "media-v1", 10001, extra))
    drain(hub)
    assert stand_in.rasa_seen[-1]["message"] == "查订单"


def test_oversized_and_corrupt_images_get_a_reply_and_no_bot_turn(
    tmp_path: Path, stand_in: AppStandIn
) -> None:
    stand_in.media["big"] = (b"\x89PNG\r\n\x1a\n" + b"0" * 5000, "image/png")
    stand_in.media["broken"] = (b"\x89PNG\r\n\x1a\n" + b"garbage", "image/png")
    settings = settings_for(tmp_path, stand_in, media_max_upload_bytes=2000)
    with TestClient(create_app(settings)) as client:
        signed_post(client, media_xml("image", "big", 11001))
        drain(client)
        signed_post(client, media_xml("image", "broken", 11002))
        drain(client)
        signed_post(client, media_xml("image", "missing", 11003))
        drain(client)
    assert stand_in.rasa_seen == []
    assert stand_in.texts() == [
        REPLIES["too_large"]["zh"],
        REPLIES["unsupported"]["zh"],
        REPLIES["bad_request"]["zh"],
    ]
    rows = query_hub_db(tmp_path, "SELECT status, body FROM outbox_inbound ORDER BY id")
    assert [tuple(r) for r in rows] == [("handled", None)] * 3


def cli_env(var_dir: Path, stand_in: AppStandIn, **extra: str) -> dict[str, str]:
    return {
        "BOT_VAR_DIR": str(var_dir),
        "BOT_LOG_LEVEL": "WARNING",
        "BOT_PUBLIC_URL": "https://hub.example.com",
        "BOT_WECHAT_APP_ID": APP_ID,
        "BOT_WECHAT_APP_SECRET": "app-secret",
        "BOT_WECHAT_TOKEN": TOKEN,
        "BOT_WECHAT_AES_KEY": AES_KEY,
        "BOT_WECHAT_API_URL": stand_in.url,
        **extra,
    }


def test_channels_check_validates_and_prints_the_webhook_url(
    tmp_path: Path, stand_in: AppStandIn
) -> None:
    result = CliRunner().invoke(cli, ["channels", "check"], env=cli_env(tmp_path, stand_in))
    assert result.exit_code == 0, result.output
    assert result.output == (
        "wechat: settings ok, access token received\n"
        "  webhook URL: https://hub.example.com/channels/wechat\n"
    )
    assert stand_in.tokens_issued == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"BOT_WECHAT_TOKEN": ""}, "WeChat is half configured: set BOT_WECHAT_TOKEN too"),
        ({"BOT_WECHAT_AES_KEY": "short"}, "must be the 43-character EncodingAESKey, not 5"),
        ({"BOT_WECHAT_AES_KEY": "!" * 43}, "BOT_WECHAT_AES_KEY is not a valid EncodingAESKey"),
    ],
)
def test_channels_check_names_what_is_wrong(
    tmp_path: Path, stand_in: AppStandIn, extra: dict[str, str], message: str
) -> None:
    env = cli_env(tmp_path, stand_in, **extra)
    result = CliRunner().invoke(cli, ["channels", "check", "--offline"], env=env)
    assert result.exit_code == 1
    assert message in result.output


def test_channels_check_reports_a_refused_token(tmp_path: Path) -> None:
    nobody = AppStandIn()  # never started: nothing listens on its port
    result = CliRunner().invoke(cli, ["channels", "check"], env=cli_env(tmp_path, nobody))
    assert result.exit_code == 1
    assert result.output.startswith("wechat: FAILED: ")


def test_stuck_messages_are_listed(hub: TestClient, stand_in: AppStandIn, tmp_path: Path) -> None:
    stand_in.refused[OPENID] = 45015
    signed_post(hub, text_xml("hello", 12001))
    drain(hub)
    result = CliRunner().invoke(cli, ["channels", "stuck"], env=cli_env(tmp_path, stand_in))
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [(m["channel"], m["status"], m["attempts"]) for m in listed] == [
        ("wechat", "gave_up", 1)
    ]


def test_delivery_accepted_but_not_handled_before_a_stop_is_handled_after_restart(
    tmp_path: Path, stand_in: AppStandIn
) -> None:
    with TestClient(create_app(settings_for(tmp_path, stand_in))) as first:
        outbox = first.app.state.services.outbox  # type: ignore[attr-defined]
        # What accept() stores when the webhook is acknowledged; the hub "stops" before handling.
        body: dict[str, Any] = {
            "message_id": "13001",
            "sender": OPENID,
            "kind": "text",
            "text": "still there?",
            "payload": None,
            "media_id": None,
            "media_format": None,
            "choice": None,
            "metadata": {},
        }
        first.portal.call(outbox.accept_inbound, "wechat", "13001", body)  # type: ignore[union-attr]
    with sqlite3.connect(tmp_path / "hub.db") as db:
        db.execute("UPDATE outbox_inbound SET received_at = '2000-01-01 00:00:00.000000'")
    with TestClient(create_app(settings_for(tmp_path, stand_in))) as second:
        apps = second.app.state.apps  # type: ignore[attr-defined]
        # The start-up run of the recovery job may have claimed it first: either way, once.
        second.portal.call(apps.resume_unhandled)  # type: ignore[union-attr]
        stand_in.wait_for(lambda: len(stand_in.sent) >= 1, "the recovered reply")
        drain(second)
        # A redelivery of the same message now is a duplicate.
        signed_post(second, text_xml("still there?", 13001))
        drain(second)
        assert second.portal.call(apps.resume_unhandled) == 0  # type: ignore[union-attr]
    assert stand_in.texts() == ["echo: still there?"]


def test_an_app_without_settings_is_not_mounted(tmp_path: Path, stand_in: AppStandIn) -> None:
    settings = settings_for(
        tmp_path,
        stand_in,
        wechat_app_id=None,
        wechat_app_secret=None,
        wechat_token=None,
        wechat_aes_key=None,
    )
    with TestClient(create_app(settings)) as client:
        assert client.post("/channels/wechat", params={"signature": "x"}).status_code == 404
        assert client.app.state.apps.enabled == []  # type: ignore[attr-defined]
