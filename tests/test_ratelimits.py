"""Rate limits and quotas on the real hub (real SQLite, Rasa down so that every accepted message
is stored and answered 503): over a limit is 429 with ``Retry-After`` and, on chat channels, a
reply in the customer's language; a refused message or upload is not stored, nothing stored
before is lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from channels.connector import Quota, RateLimited, RateLimiter, RateLimits
from tests.conftest import query_hub_db
from tests.live_hub import hub_settings, serving
from tests.test_webchat_channel import Widget


def stored_messages(var_dir: Path) -> list[tuple[str, str]]:
    rows = query_hub_db(
        var_dir,
        "SELECT c.sender, m.text FROM messages m JOIN conversations c "
        "ON c.id = m.conversation_id WHERE m.direction = 'in' ORDER BY m.id",
    )
    return [(r["sender"], r["text"]) for r in rows]


@pytest.fixture
def client(
    tmp_path: Path, request: pytest.FixtureRequest, rate_window: None
) -> Iterator[TestClient]:
    overrides: dict[str, Any] = getattr(request, "param", {})
    settings = hub_settings(
        tmp_path,
        rate_limit_messages_per_minute=3,
        rate_limit_messages_per_ip_per_minute=5,
        rate_limit_uploads_per_day=2,
        rate_limit_upload_mib_per_day=1,
        **overrides,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_a_flooding_sender_gets_429_in_their_language_and_nothing_extra_is_stored(
    client: TestClient, tmp_path: Path
) -> None:
    for i in range(3):
        answer = client.post("/api/messages", json={"sender": "s1", "text": f"你好 {i}"})
        assert answer.status_code == 503  # stored, not answered: Rasa is down
    refused = client.post("/api/messages", json={"sender": "s1", "text": "你好 3"})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    body = refused.json()
    assert "3 messages a minute from one customer" in body["detail"]
    assert body["reply"].startswith("您发送得太频繁了")
    assert body["retry_after"] == int(refused.headers["retry-after"])
    english = client.post("/api/messages", json={"sender": "s1", "text": "where is my order"})
    assert english.status_code == 429
    assert english.json()["reply"].startswith("You are sending too fast")
    assert stored_messages(tmp_path) == [("s1", f"你好 {i}") for i in range(3)]
    # Another customer is not held up by the first one's flood.
    assert client.post("/api/messages", json={"sender": "s2", "text": "hi"}).status_code == 503


def test_one_address_is_limited_across_senders(client: TestClient, tmp_path: Path) -> None:
    statuses = [
        client.post("/api/messages", json={"sender": f"c{i}", "text": "hi"}).status_code
        for i in range(6)
    ]
    assert statuses == [503] * 5 + [429]
    assert len(stored_messages(tmp_path)) == 5


@pytest.mark.parametrize("client", [{"api_key": "k" * 32}], indirect=True)
def test_the_shops_servers_behind_the_api_key_are_limited_per_sender_only(
    client: TestClient, tmp_path: Path
) -> None:
    key = {"authorization": "Bearer " + "k" * 32}
    statuses = [
        client.post(
            "/api/messages", json={"sender": f"c{i}", "text": "hi"}, headers=key
        ).status_code
        for i in range(7)
    ]
    assert statuses == [503] * 7
    for _ in range(2):
        client.post("/api/messages", json={"sender": "c0", "text": "hi"}, headers=key)
    assert (
        client.post("/api/messages", json={"sender": "c0", "text": "hi"}, headers=key).status_code
        == 429
    )


@pytest.mark.parametrize("client", [{"rate_limits_enabled": False}], indirect=True)
def test_limits_can_be_switched_off(client: TestClient) -> None:
    statuses = {
        client.post("/api/messages", json={"sender": "s1", "text": "hi"}).status_code
        for _ in range(8)
    }
    assert statuses == {503}


def _upload(client: TestClient, path: str, sender_field: dict[str, str], size: int) -> Any:
    return client.post(
        path,
        data={**sender_field, "language": "en"},
        files={"file": ("note.txt", b"x" * size, "text/plain")},
    )


def test_uploads_are_counted_per_sender_and_day(client: TestClient, tmp_path: Path) -> None:
    sender = {"sender": "u1"}
    first, second = (_upload(client, "/api/media", sender, 100) for _ in range(2))
    assert (first.status_code, second.status_code) == (415, 415)  # counted, then refused as text
    third = _upload(client, "/api/media", sender, 100)
    assert third.status_code == 429
    assert "2 uploads a day from one customer" in third.json()["detail"]
    assert third.json()["reply"].startswith("You are sending too fast")
    assert int(third.headers["retry-after"]) >= 1
    assert list((tmp_path / "media").rglob("*.txt")) == []  # the refused file was not kept
    assert _upload(client, "/api/media", {"sender": "u2"}, 100).status_code == 415


def test_upload_bytes_are_counted_per_sender_and_day(client: TestClient) -> None:
    sender = {"sender": "u1"}
    assert _upload(client, "/api/media", sender, 700 * 1024).status_code == 415
    refused = _upload(client, "/api/media", sender, 400 * 1024)
    assert refused.status_code == 429
    assert "upload bytes a day from one customer" in refused.json()["detail"]
    # A refused upload does not use up the day's bytes: a small one still goes through.
    assert _upload(client, "/api/media", sender, 100 * 1024).status_code == 415


@pytest.mark.parametrize(
    "client", [{"admin_token": "a" * 32, "rate_limit_admin_per_minute": 3}], indirect=True
)
def test_the_admin_api_is_limited_per_address_before_the_token_is_checked(
    client: TestClient,
) -> None:
    wrong = {"authorization": "Bearer wrong"}
    statuses = [
        client.get("/admin/knowledge/unanswered", headers=wrong).status_code for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    refused = client.get("/admin/knowledge/unanswered", headers=wrong)
    assert refused.status_code == 429
    assert "admin API requests a minute" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) >= 1


@pytest.mark.usefixtures("rate_window")
async def test_the_webchat_sender_over_the_limit_gets_a_bot_uttered_and_nothing_is_stored(
    tmp_path: Path,
) -> None:
    settings = hub_settings(tmp_path, rate_limit_messages_per_minute=2)
    async with serving(settings) as hub:
        widget = Widget(hub.url)
        try:
            session_id = await widget.start()
            for text in ("你好", "在吗"):
                assert (await widget.say(text, session_id))["ok"] is False  # Rasa is down
            ack = await widget.say("快点回复", session_id)
            assert ack["ok"] is False
            assert ack["retry_after"] >= 1
            assert "2 messages a minute from one customer" in ack["error"]
            refusal = await widget.next("bot_uttered", count=3)
            assert refusal["text"].startswith("您发送得太频繁了")
            assert refusal["error"]["reason"] == "rate_limited"
            english = await widget.say("hello?", session_id, customData={"language": "en"})
            assert english["ok"] is False
            assert (await widget.next("bot_uttered", count=4))["text"].startswith(
                "You are sending too fast"
            )
            conversation_id = await hub.conversation_of(session_id)
            history = await hub.services.conversations.history(conversation_id)
            assert [m.text for m in history if m.direction == "in"] == ["你好", "在吗"]
        finally:
            await widget.client.disconnect()


async def test_webchat_uploads_are_counted_per_session(tmp_path: Path) -> None:
    settings = hub_settings(tmp_path, rate_limit_uploads_per_day=1)
    async with serving(settings) as hub:
        widget = Widget(hub.url)
        try:
            session_id = await widget.start()
        finally:
            await widget.client.disconnect()
    with TestClient(create_app(settings)) as client:  # the same database, a new process's limits
        session = {"session_id": session_id}
        assert _upload(client, "/webchat/upload", session, 100).status_code == 415
        refused = _upload(client, "/webchat/upload", session, 100)
        assert refused.status_code == 429
        assert refused.json()["reason"] == "rate_limited"


@pytest.mark.usefixtures("rate_window")
async def test_the_limiter_counts_all_or_nothing() -> None:
    tight, loose = Quota(1, 60, "tight things"), Quota(10, 60, "loose things")
    limiter = RateLimiter(RateLimits(messages_per_sender=tight, messages_per_address=loose))
    await limiter.message("10.0.0.1", "a")
    with pytest.raises(RateLimited, match="1 tight things"):
        await limiter.message("10.0.0.1", "a")
    # The refused message did not count against the address.
    for sender in "bcdefghij":
        await limiter.message("10.0.0.1", sender)
    with pytest.raises(RateLimited, match="10 loose things"):
        await limiter.message("10.0.0.1", "k")


def test_a_bad_storage_names_only_its_scheme() -> None:
    with pytest.raises(ValueError, match="'nosuch'") as raised:
        RateLimiter(storage_uri="nosuch://user:secret@host")
    assert "secret" not in str(raised.value)
