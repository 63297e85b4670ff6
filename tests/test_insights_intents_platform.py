"""Intents of bot-handled turns with the real Rasa: the hub stores, for each customer message,
the intent and confidence Rasa's NLU gave it (read back from Rasa's tracker after the reply is
sent, one read at a time per conversation, so a quick next message cannot hide it)."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from tests.conftest import query_hub_db
from tests.launch import PlatformProcess
from tests.test_platform import say
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

KEPT_WITHIN_S = 30.0


def kept_intents(var_dir: Path, sender: str, count: int) -> list[sqlite3.Row]:
    """The sender's messages with the intent kept for each, once ``count`` of them have one
    (the hub reads intents after the reply is sent, in its own process)."""

    def rows() -> list[sqlite3.Row]:
        return query_hub_db(
            var_dir,
            "SELECT m.text, i.intent, i.confidence FROM messages m"
            " JOIN conversations c ON c.id = m.conversation_id"
            " LEFT JOIN analytics_message_intents i ON i.message_id = m.id"
            " WHERE c.sender = ? AND m.direction = 'in' ORDER BY m.id",
            (sender,),
        )

    def all_kept() -> list[sqlite3.Row] | None:
        found = rows()
        return found if sum(r["intent"] is not None for r in found) >= count else None

    return wait_until(
        all_kept,
        f"the intents of {count} messages of {sender} to be kept",
        timeout_s=KEPT_WITHIN_S,
        detail=lambda: f"kept: {[(r['text'], r['intent']) for r in rows()]}",
    )


def test_each_bot_turn_keeps_the_intent_rasa_gave_it(platform: PlatformProcess) -> None:
    sender = f"intents-{uuid.uuid4().hex[:6]}"
    turns = [
        ("hello there", "greet"),
        ("are you a bot?", "bot_challenge"),
        ("what's the weather like today", "out_of_scope"),
    ]
    for text, _intent in turns:
        say(platform, sender, text)
    rows = kept_intents(platform.var_dir, sender, len(turns))
    assert [(r["text"], r["intent"]) for r in rows] == turns
    assert all(0.0 < r["confidence"] <= 1.0 for r in rows)


def test_quick_messages_each_keep_their_own_intent(platform: PlatformProcess) -> None:
    # Each message is sent the moment the previous reply arrives, while the hub may still be
    # reading that reply's intent: the next message must not reach Rasa before the read, or the
    # tracker's latest message would be the wrong one and the intent lost.
    sender = f"quick-{uuid.uuid4().hex[:6]}"
    turns = [("你好", "greet"), ("你是机器人吗", "bot_challenge")] * 4
    for text, _intent in turns:
        say(platform, sender, text)
    rows = kept_intents(platform.var_dir, sender, len(turns))
    assert [(r["text"], r["intent"]) for r in rows] == turns
