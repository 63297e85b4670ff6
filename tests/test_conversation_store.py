"""The conversation store's units of work on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial

import pytest

from bot.conversations import ConversationNotFound
from bot.conversations._store import close_turn, history, open_turn, sender_of
from bot.dialogue import BotReply, Button
from bot.storage import Database


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.migrate()
    yield db
    db.dispose()


async def test_first_messages_racing_make_one_conversation(database: Database) -> None:
    turns = await asyncio.gather(
        *(
            database.transaction(
                partial(
                    open_turn,
                    channel="webchat",
                    sender="racer",
                    text=f"hi {i}",
                    metadata={},
                    default_language="zh",
                )
            )
            for i in range(10)
        )
    )
    assert len({t.conversation_id for t in turns}) == 1
    assert len({t.message_id for t in turns}) == 10
    assert {t.language for t in turns} == {"en"}
    assert (
        await database.transaction(partial(sender_of, conversation_id=turns[0].conversation_id))
        == "racer"
    )


async def test_replies_are_stored_in_order_with_their_payload(database: Database) -> None:
    turn = await database.transaction(
        partial(
            open_turn,
            channel="rest",
            sender="s1",
            text="退货",
            metadata={"source": "app"},
            default_language="zh",
        )
    )
    replies = [
        BotReply(text="请选择", buttons=[Button(title="是", payload="/affirm")]),
        BotReply(text="排队中", custom={"author": "system", "kind": "queue"}),
    ]
    stored = await database.transaction(
        partial(close_turn, turn=turn, status="answered", replies=replies, sentiment=-0.2)
    )
    assert [(m.author, m.text) for m in stored] == [("bot", "请选择"), ("system", "排队中")]
    messages = await database.transaction(
        partial(history, conversation_id=turn.conversation_id, after_id=None, limit=10)
    )
    assert [(m.direction, m.author, m.text) for m in messages] == [
        ("in", "customer", "退货"),
        ("out", "bot", "请选择"),
        ("out", "system", "排队中"),
    ]
    assert messages[0].sentiment == pytest.approx(-0.2)
    assert messages[1].payload == {"buttons": [{"title": "是", "payload": "/affirm"}]}
    later = await database.transaction(
        partial(history, conversation_id=turn.conversation_id, after_id=messages[1].id, limit=10)
    )
    assert [m.text for m in later] == ["排队中"]


async def test_unknown_conversation(database: Database) -> None:
    with pytest.raises(ConversationNotFound, match="no conversation nope"):
        await database.transaction(partial(history, conversation_id="nope", after_id=None, limit=5))
