"""The Telegram channel end to end in-process: updates as the Bot API documents them posted to the
hub with the secret-token header (real app, real SQLite), a local server standing in for the Bot
API and Rasa."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.app import Settings, create_app
from channels.connector import REPLIES
from tests.app_standin import AppStandIn, drain
from tests.conftest import query_hub_db

SECRET = "hub_secret-123"
BOT_TOKEN = "123456:ABC-test"
CHAT = 424242


def settings_for(var_dir: Path, stand_in: AppStandIn, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "var_dir": var_dir,
        "rasa_port": stand_in.port,
        "actions_port": stand_in.port,
        "telegram_bot_token": BOT_TOKEN,
        "telegram_secret_token": SECRET,
        "telegram_bot_username": "shop_bot",
        "telegram_api_url": stand_in.url,
        "outbox_retry_s": 3600.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def text_update(update_id: int, text: str, chat: int = CHAT, chat_type: str = "private") -> dict:  # type: ignore[type-arg]
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": {"id": chat, "is_bot": False, "first_name": "Li"},
            "chat": {"id": chat, "type": chat_type},
            "date": 1796180000,
            "text": text,
        },
    }


def post(client: TestClient, update: dict[str, Any], secret: str | None = SECRET) -> Any:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return client.post("/channels/telegram", json=update, headers=headers)


@pytest.fixture
def hub(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path, stand_in))) as client:
        yield client


def test_text_and_inline_keyboard_round_trip(hub: TestClient, stand_in: AppStandIn) -> None:
    for _ in range(3):  # redelivered until it got a 2xx: one reply
        response = post(hub, text_update(1, "menu"))
        assert (response.status_code, response.json()) == (200, {"ok": True})
    drain(hub)
    assert [s.body for s in stand_in.sent] == [
        {
            "method": "sendMessage",
            "chat_id": str(CHAT),
            "text": "Pick one",
            "reply_markup": {
                "inline_keyboard": [
                    [{"text": "Orders", "callback_data": "/check_order_status"}],
                    [{"text": "Returns", "callback_data": "/return_request"}],
                ]
            },
        }
    ]
    tap = {
        "update_id": 2,
        "callback_query": {
            "id": "cbq-1",
            "from": {"id": CHAT, "is_bot": False, "first_name": "Li"},
            "message": {"message_id": 1, "chat": {"id": CHAT, "type": "private"}, "date": 0},
            "data": "/return_request",
        },
    }
    post(hub, tap)
    drain(hub)
    assert stand_in.rasa_seen[-1]["message"] == "/return_request"
    methods = [s.body["method"] for s in stand_in.sent]
    assert sorted(methods[1:]) == ["answerCallbackQuery", "sendMessage"]


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
def test_wrong_secret_is_refused_and_nothing_stored(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path, secret: str | None
) -> None:
    response = post(hub, text_update(10, "hi"), secret=secret)
    assert response.status_code == 401
    assert response.json() == {"detail": "X-Telegram-Bot-Api-Secret-Token does not match"}
    drain(hub)
    assert query_hub_db(tmp_path, "SELECT COUNT(*) FROM messages")[0][0] == 0
    assert stand_in.sent == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"not json", "the update is not JSON"),
        (b"[]", "the update has no update_id"),
        (b'{"update_id": "7"}', "the update has no update_id"),
    ],
)
def test_malformed_updates_are_refused(hub: TestClient, body: bytes, detail: str) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "content-type": "application/json"}
    response = hub.post("/channels/telegram", content=body, headers=headers)
    assert (response.status_code, response.json()) == (400, {"detail": detail})


def test_groups_are_answered_only_when_the_bot_is_mentioned(
    hub: TestClient, stand_in: AppStandIn
) -> None:
    post(hub, text_update(20, "anyone here?", chat=-100, chat_type="group"))
    post(hub, text_update(21, "@shop_bot where is my order", chat=-100, chat_type="group"))
    drain(hub)
    assert [seen["message"] for seen in stand_in.rasa_seen] == ["where is my order"]
    assert stand_in.texts() == ["echo: where is my order"]


def test_blocked_bot_gives_up_and_outage_is_retried(
    hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    stand_in.fail_sends = 1
    post(hub, text_update(30, "first"))
    drain(hub)
    with sqlite3.connect(tmp_path / "hub.db") as db:
        db.execute("UPDATE outbox_messages SET next_attempt_at = '2000-01-01 00:00:00.000000'")
    apps = hub.app.state.apps  # type: ignore[attr-defined]
    assert hub.portal.call(apps.deliver_due) == {  # type: ignore[union-attr]
        "telegram": {"pending": 0, "sent": 1, "gave_up": 0}
    }
    stand_in.refused[str(CHAT)] = 403
    post(hub, text_update(31, "second"))
    drain(hub)
    rows = query_hub_db(tmp_path, "SELECT status, attempts, last_error FROM outbox_messages")
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 2), ("gave_up", 1)]
    assert "403" in rows[1]["last_error"]
    assert stand_in.texts() == ["echo: first"]


def test_oversized_voice_is_not_downloaded(tmp_path: Path, stand_in: AppStandIn) -> None:
    stand_in.media["voice-1"] = (b"OggS" + b"\0" * 4000, "audio/ogg")
    settings = settings_for(tmp_path, stand_in, media_max_upload_bytes=1000)
    with TestClient(create_app(settings)) as client:
        update = text_update(40, "")
        del update["message"]["text"]
        update["message"]["voice"] = {"file_id": "voice-1", "duration": 2, "file_size": 4004}
        post(client, update)
        drain(client)
    assert stand_in.rasa_seen == []
    assert stand_in.texts() == [REPLIES["too_large"]["zh"]]
