"""Web-chat sessions in a real SQLite hub database: opening, reopening, the delivery cursor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import Database
from channels.webchat import WebchatSessions


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[WebchatSessions]:
    database = Database(f"sqlite:///{tmp_path}/hub.db")
    await database.migrate()
    yield WebchatSessions(database)
    database.dispose()


async def test_a_session_is_created_once_and_reopened(sessions: WebchatSessions) -> None:
    assert await sessions.sender_of("session-0001") is None
    assert await sessions.open("session-0001") == ("session-0001", 0)
    assert await sessions.open("session-0001") == ("session-0001", 0)
    assert await sessions.sender_of("session-0001") == "session-0001"


async def test_the_delivery_cursor_only_moves_forward(sessions: WebchatSessions) -> None:
    await sessions.open("session-0002")
    await sessions.delivered("session-0002", 7)
    await sessions.delivered("session-0002", 5)  # a late, older emit does not move it back
    assert await sessions.open("session-0002") == ("session-0002", 7)
    await sessions.delivered("session-0002", 9)
    assert await sessions.open("session-0002") == ("session-0002", 9)


async def test_a_session_stands_for_one_sender_for_good(sessions: WebchatSessions) -> None:
    customer = "customer:customer-001"
    assert await sessions.open("session-0003", customer, create=False) is None
    assert await sessions.sender_of("session-0003") is None  # not made
    assert await sessions.open("session-0003", customer) == (customer, 0)
    assert await sessions.open("session-0003", customer, create=False) == (customer, 0)
    # Nobody else, anonymous or another customer, is given it.
    assert await sessions.open("session-0003") is None
    assert await sessions.open("session-0003", "customer:customer-002") is None
    assert await sessions.open("session-0004") == ("session-0004", 0)
    assert await sessions.open("session-0004", customer) is None


async def test_forgetting_a_sender_deletes_every_session_of_theirs(
    sessions: WebchatSessions,
) -> None:
    customer = "customer:customer-001"
    for session_id in ("session-0005", "session-0006"):
        await sessions.open(session_id, customer)
    await sessions.open("session-0007")
    assert await sessions.forget(customer) == 2
    assert await sessions.forget(customer) == 0
    assert [await sessions.sender_of(s) for s in ("session-0005", "session-0007")] == [
        None,
        "session-0007",
    ]
