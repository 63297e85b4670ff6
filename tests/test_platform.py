"""The real platform: Rasa, the action server and the hub, started by `python -m bot run`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import query_hub_db, response_text
from tests.launch import PlatformProcess

pytestmark = pytest.mark.integration


def say(platform: PlatformProcess, sender: str, text: str) -> dict:  # type: ignore[type-arg]
    response = httpx.post(
        f"{platform.hub_url}/api/messages", json={"sender": sender, "text": text}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_health_reports_every_process(platform: PlatformProcess) -> None:
    response = httpx.get(f"{platform.hub_url}/healthz")
    assert response.json() == {"status": "ok", "rasa": "ok", "actions": "ok"}


def _process(platform: PlatformProcess, name: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of one of the platform's processes."""
    pid = int((platform.var_dir / "run" / f"{name}.pid").read_text())
    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    pairs = (
        item.partition(b"=") for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    )
    environment = {key.decode(): value.decode() for key, _, value in pairs if key}
    return [part.decode() for part in command if part], environment


def test_rasas_token_is_on_no_command_line(platform: PlatformProcess) -> None:
    _, hub_environment = _process(platform, "hub")
    token = hub_environment["BOT_RASA_TOKEN"]
    assert len(token) >= 32
    for name in ("rasa", "actions", "hub"):
        command, _ = _process(platform, name)
        assert all(token not in part for part in command), name
    # Rasa still requires it: without it the tracker is refused, with it served.
    tracker = f"{platform.rasa_url}/conversations/nobody/tracker"
    assert httpx.get(tracker, timeout=10).status_code == 401
    assert httpx.get(tracker, params={"token": token}, timeout=10).status_code == 200


@pytest.mark.parametrize(
    ("language", "turns"),
    [
        (
            "zh",
            [
                ("您好", "utter_greet"),
                ("你是机器人吗", "utter_iamabot"),
                ("明天会下雨吗", "utter_out_of_scope"),
                ("谢谢你", "utter_you_are_welcome"),
                ("拜拜", "utter_goodbye"),
            ],
        ),
        (
            "en",
            [
                ("hello there", "utter_greet"),
                ("are you a bot?", "utter_iamabot"),
                ("what's the weather like today", "utter_out_of_scope"),
                ("thanks a lot", "utter_you_are_welcome"),
                ("bye", "utter_goodbye"),
            ],
        ),
    ],
)
def test_conversation_is_answered_and_stored(
    platform: PlatformProcess, language: str, turns: list[tuple[str, str]]
) -> None:
    sender = f"customer-{language}-{uuid.uuid4().hex[:6]}"
    conversation_ids = set()
    for text, response_name in turns:
        answer = say(platform, sender, text)
        conversation_ids.add(answer["conversation_id"])
        expected = response_text(response_name, language)
        assert (answer["language"], answer["mode"]) == (language, "bot")
        assert [r["text"] for r in answer["replies"]] == [expected], text
    assert len(conversation_ids) == 1

    rows = query_hub_db(
        platform.var_dir,
        "SELECT m.direction, m.author, m.text, m.status, m.language, m.created_at"
        " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE c.sender = ? ORDER BY m.id",
        (sender,),
    )
    expected_rows = []
    for text, response_name in turns:
        expected_rows.append(("in", "customer", text, "answered", language))
        expected_rows.append(
            ("out", "bot", response_text(response_name, language), "sent", language)
        )
    assert [tuple(r)[:5] for r in rows] == expected_rows
    stamps = [datetime.fromisoformat(r["created_at"]) for r in rows]
    assert stamps == sorted(stamps)
    (conversation,) = query_hub_db(
        platform.var_dir,
        "SELECT public_id, channel, language, mode FROM conversations WHERE sender = ?",
        (sender,),
    )
    assert tuple(conversation) == (conversation_ids.pop(), "rest", language, "bot")


def test_reply_follows_a_language_switch(platform: PlatformProcess) -> None:
    sender = f"switcher-{uuid.uuid4().hex[:6]}"
    assert say(platform, sender, "你好")["replies"][0]["text"] == response_text("utter_greet", "zh")
    switched = say(platform, sender, "hello")
    assert switched["language"] == "en"
    assert switched["replies"][0]["text"] == response_text("utter_greet", "en")
    # No letters at all: the conversation keeps its latest language.
    assert say(platform, sender, "123456")["language"] == "en"
    back = say(platform, sender, "谢谢")
    assert back["replies"][0]["text"] == response_text("utter_you_are_welcome", "zh")


def test_senders_get_separate_conversations(platform: PlatformProcess) -> None:
    first = say(platform, f"a-{uuid.uuid4().hex}", "hi")["conversation_id"]
    second = say(platform, f"b-{uuid.uuid4().hex}", "hi")["conversation_id"]
    assert first != second


async def test_concurrent_first_messages_share_one_conversation(platform: PlatformProcess) -> None:
    sender = f"burst-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=platform.hub_url, timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post("/api/messages", json={"sender": sender, "text": f"hello {i}"})
                for i in range(8)
            )
        )
    assert [r.status_code for r in responses] == [200] * 8
    assert len({r.json()["conversation_id"] for r in responses}) == 1
    rows = query_hub_db(
        platform.var_dir,
        "SELECT count(*) AS n FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE c.sender = ? AND m.direction = 'in' AND m.status = 'answered'",
        (sender,),
    )
    assert rows[0]["n"] == 8


def test_bad_input_over_http_keeps_what_is_stored(platform: PlatformProcess) -> None:
    sender = f"hostile-{uuid.uuid4().hex[:6]}"
    say(platform, sender, "hello")
    before = query_hub_db(platform.var_dir, "SELECT id, text, status FROM messages ORDER BY id")
    attacks = [
        httpx.post(
            f"{platform.hub_url}/api/messages",
            content=b"\xff\xfe{",
            timeout=10,
            headers={"content-type": "application/json"},
        ),
        httpx.post(f"{platform.hub_url}/api/messages", json={"sender": sender, "text": "x" * 2001}),
        httpx.post(f"{platform.hub_url}/api/messages", json={"sender": sender, "text": "\u3000 "}),
        httpx.post(
            f"{platform.hub_url}/api/messages",
            content=b"{" * 100_000,
            headers={"content-type": "application/json"},
        ),
    ]
    assert [r.status_code for r in attacks] == [422, 413, 422, 413]
    assert all(r.json()["detail"] for r in attacks)
    after = query_hub_db(platform.var_dir, "SELECT id, text, status FROM messages ORDER BY id")
    assert [tuple(r) for r in after] == [tuple(r) for r in before]
    assert say(platform, sender, "thanks")["replies"]
