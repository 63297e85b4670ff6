"""Intents of bot-handled turns with the real Rasa: the hub stores, for each customer message,
the intent and confidence Rasa's NLU gave it (read back from Rasa's tracker)."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import query_hub_db
from tests.launch import PlatformProcess
from tests.test_platform import say

pytestmark = pytest.mark.integration


def test_each_bot_turn_keeps_the_intent_rasa_gave_it(platform: PlatformProcess) -> None:
    sender = f"intents-{uuid.uuid4().hex[:6]}"
    turns = [
        ("hello there", "greet"),
        ("are you a bot?", "bot_challenge"),
        ("what's the weather like today", "out_of_scope"),
    ]
    for text, _intent in turns:
        say(platform, sender, text)
    rows = query_hub_db(
        platform.var_dir,
        "SELECT m.text, i.intent, i.confidence FROM messages m"
        " JOIN conversations c ON c.id = m.conversation_id"
        " JOIN analytics_message_intents i ON i.message_id = m.id"
        " WHERE c.sender = ? ORDER BY m.id",
        (sender,),
    )
    assert [(r["text"], r["intent"]) for r in rows] == turns
    assert all(0.0 < r["confidence"] <= 1.0 for r in rows)
