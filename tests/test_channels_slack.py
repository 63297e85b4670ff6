"""The Slack channel end to end in-process: Events API and interactivity requests signed as
Slack documents (slack-sdk's own signer) posted to the hub (real app, real SQLite), a local
server standing in for the Web API and Rasa."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from slack_sdk.signature import SignatureVerifier

from bot.app import Settings, create_app
from channels.connector import REPLIES
from channels.media import render_text_image
from tests.app_standin import AppStandIn, drain
from tests.conftest import query_hub_db

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
DM = "D0123CUSTOMER"


def settings_for(var_dir: Path, stand_in: AppStandIn) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=var_dir,
        rasa_port=stand_in.port,
        actions_port=stand_in.port,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=f"{stand_in.url}/api",
        outbox_retry_s=3600.0,
    )


def signed(body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict:  # type: ignore[type-arg]
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def event(event_id: str, text: str, **extra: Any) -> dict[str, Any]:
    """An Events API ``event_callback`` with a direct message, as Slack documents it."""
    inner = {
        "type": "message",
        "channel": DM,
        "channel_type": "im",
        "user": "U0CUSTOMER",
        "text": text,
        "ts": "1355517523.000005",
        **extra,
    }
    return {"type": "event_callback", "team_id": "T1", "event_id": event_id, "event": inner}


def post_event(client: TestClient, envelope: dict[str, Any], **sign: Any) -> Any:
    body = json.dumps(envelope).encode()
    headers = {"content-type": "application/json", **signed(body, **sign)}
    return client.post("/channels/slack/events", content=body, headers=headers)


@pytest.fixture
def hub(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path, stand_in))) as client:
        yield client


def test_url_verification_answers_the_challenge(hub: TestClient) -> None:
    response = post_event(hub, {"type": "url_verification", "challenge": "c-42", "token": "x"})
    assert (response.status_code, response.json()) == (200, {"challenge": "c-42"})


def test_block_kit_buttons_and_a_tap_on_the_interactivity_endpoint(
    hub: TestClient, stand_in: AppStandIn
) -> None:
    for _ in range(3):  # Slack retries with X-Slack-Retry-Num when the ack is late
        assert post_event(hub, event("Ev1", "menu")).status_code == 200
    drain(hub)
    assert [s.body for s in stand_in.sent] == [
        {
            "method": "chat.postMessage",
            "channel": DM,
            "text": "Pick one",
            "blocks": [
                {"type": "section", "text": {"type": "plain_text", "text": "Pick one"}},
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Orders"},
                            "value": "/check_order_status",
                            "action_id": "choice_1",
                        },
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Returns"},
                            "value": "/return_request",
                            "action_id": "choice_2",
                        },
                    ],
                },
            ],
        }
    ]
    assert stand_in.sent[0].token == BOT_TOKEN
    tap = {
        "type": "block_actions",
        "trigger_id": "trig-1",
        "user": {"id": "U0CUSTOMER"},
        "channel": {"id": DM},
        "actions": [
            {
                "action_id": "choice_2",
                "value": "/return_request",
                "text": {"type": "plain_text", "text": "Returns"},
                "action_ts": "1.2",
            }
        ],
    }
    body = urlencode({"payload": json.dumps(tap)}).encode()
    headers = {"content-type": "application/x-www-form-urlencoded", **signed(body)}
    for _ in range(2):
        response = hub.post("/channels/slack/interactivity", content=body, headers=headers)
        assert response.status_code == 200
    drain(hub)
    assert [seen["message"] for seen in stand_in.rasa_seen] == ["menu", "/return_request"]


@pytest.mark.parametrize(
    ("secret", "skew_s"),
    [("another-secret", 0), (None, -600), (None, 900)],  # the clock read when the test runs
)
def test_bad_signature_or_replay_is_refused_and_nothing_stored(
    hub: TestClient, tmp_path: Path, secret: str | None, skew_s: int
) -> None:
    sign: dict[str, Any] = {"timestamp": int(time.time()) + skew_s}
    if secret is not None:
        sign["secret"] = secret
    response = post_event(hub, event("Ev2", "hi"), **sign)
    assert response.status_code == 401
    assert "X-Slack-Signature does not match" in response.json()["detail"]
    drain(hub)
    assert query_hub_db(tmp_path, "SELECT COUNT(*) FROM messages")[0][0] == 0


def test_channel_chatter_and_bot_messages_are_ignored_mentions_answered(
    hub: TestClient, stand_in: AppStandIn
) -> None:
    post_event(hub, event("Ev3", "lunch?", channel="C1", channel_type="channel"))
    post_event(hub, event("Ev4", "echo: hi", bot_id="B1"))
    mention = event("Ev5", "<@U0BOT> where is my order", channel="C1")
    mention["event"]["type"] = "app_mention"
    post_event(hub, mention)
    drain(hub)
    assert [seen["message"] for seen in stand_in.rasa_seen] == ["where is my order"]
    assert [(s.body["channel"], s.body["text"]) for s in stand_in.sent] == [
        ("C1", "echo: where is my order")
    ]


def test_outage_retried_and_unknown_channel_given_up(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    stand_in.fail_sends = 1
    post_event(hub, event("Ev6", "first"))
    drain(hub)
    with sqlite3.connect(tmp_path / "hub.db") as db:
        db.execute("UPDATE outbox_messages SET next_attempt_at = '2000-01-01 00:00:00.000000'")
    apps = hub.app.state.apps  # type: ignore[attr-defined]
    assert hub.portal.call(apps.deliver_due) == {  # type: ignore[union-attr]
        "slack": {"pending": 0, "sent": 1, "gave_up": 0}
    }
    stand_in.refused[DM] = 1
    post_event(hub, event("Ev7", "second"))
    drain(hub)
    rows = query_hub_db(tmp_path, "SELECT status, last_error FROM outbox_messages ORDER BY id")
    assert [r["status"] for r in rows] == ["sent", "gave_up"]
    assert "channel_not_found" in rows[1]["last_error"]


def file_event(event_id: str, file_id: str, mimetype: str, text: str = "") -> dict[str, Any]:
    """A direct message sharing one file (``subtype: file_share``), as Slack documents it."""
    envelope = event(event_id, text, subtype="file_share")
    envelope["event"]["files"] = [
        {"id": file_id, "name": f"{file_id}.png", "mimetype": mimetype, "mode": "hosted"}
    ]
    return envelope


def share(stand_in: AppStandIn, file_id: str, data: bytes, *, url: str | None = None) -> None:
    stand_in.media[file_id] = (data, "image/png")
    stand_in.slack_files[file_id] = {
        "id": file_id,
        "name": f"{file_id}.png",
        "mimetype": "image/png",
        "size": len(data),
        "url_private_download": url or f"{stand_in.url}/slack-files/{file_id}",
    }


def test_a_shared_screenshot_is_read_and_its_order_number_reaches_the_dialogue(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    image = render_text_image(["Order YX2611010001", "Status: shipped"], tmp_path / "shot.png")
    share(stand_in, "F01SCREEN", image.read_bytes())
    post_event(hub, file_event("Ev20", "F01SCREEN", "image/png"))
    drain(hub)
    # Downloaded once, with the bot token, and read by OCR before the dialogue saw it.
    assert stand_in.downloads == [("/slack-files/F01SCREEN", f"Bearer {BOT_TOKEN}")]
    [seen] = stand_in.rasa_seen
    assert "YX2611010001" in seen["message"]
    rows = query_hub_db(tmp_path, "SELECT channel, sender, kind, status FROM attachments")
    assert [tuple(r) for r in rows] == [("slack", DM, "image", "accepted")]


def test_a_file_too_large_or_off_slacks_host_is_not_downloaded(
    tmp_path: Path, stand_in: AppStandIn
) -> None:
    share(stand_in, "F02BIG", b"\x89PNG\r\n\x1a\n" + b"0" * 5000)
    # A file whose private URL is not on Slack's file host (nor the API's): the token stays
    # home. (The same server under another host name: it would have served the download.)
    elsewhere = f"http://localhost:{stand_in.port}/slack-files/F03ELSEWHERE"
    share(stand_in, "F03ELSEWHERE", b"\x89PNG", url=elsewhere)
    settings = settings_for(tmp_path, stand_in).model_copy(update={"media_max_upload_bytes": 2000})
    with TestClient(create_app(settings)) as client:
        post_event(client, file_event("Ev21", "F02BIG", "image/png"))
        drain(client)
        post_event(client, file_event("Ev22", "F03ELSEWHERE", "image/png"))
        drain(client)
        post_event(client, file_event("Ev23", "F04GONE", "image/png"))
        drain(client)
    assert stand_in.downloads == []
    assert stand_in.rasa_seen == []
    assert stand_in.texts() == [
        REPLIES["too_large"]["zh"],
        REPLIES["bad_request"]["zh"],
        REPLIES["bad_request"]["zh"],
    ]
