"""The intent of a bot turn is read after the reply, and a conversation's next message waits for
that read: Rasa's tracker keeps only its latest message's parse, so a next message sent first
would hide the previous one's intent.

The conversations module runs on a real database; Rasa is a local HTTP server answering as
Rasa's REST webhook and tracker API do, whose tracker answer the test holds back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.conversations import ConversationService, InboundMessage
from bot.dialogue import TURN_KEY, RasaClient
from bot.handoff import BusinessHours, HandoffService
from bot.insights import intent_of_message
from bot.storage import Database
from tests.launch import free_port

HOURS = BusinessHours.parse("00:00-24:00", "Asia/Shanghai")
INTENTS = {"你好": "greet", "你是机器人吗": "bot_challenge"}
# Bounds the wait for something that must not happen (a message overtaking the intent read).
OVERTAKE_WINDOW_S = 1.0


@dataclass
class StandInRasa:
    """Rasa's webhook and tracker, with the tracker's answers held until ``release`` is set."""

    latest: dict[str, Any] | None = None
    log: list[tuple[str, str]] = field(default_factory=list)
    message_ids: dict[str, int] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    tracker_asked: asyncio.Event = field(default_factory=asyncio.Event)
    second_message: asyncio.Event = field(default_factory=asyncio.Event)

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        text = body["message"]
        self.log.append(("webhook", text))
        self.message_ids[text] = body["metadata"][TURN_KEY]
        self.latest = {
            "text": text,
            "metadata": body["metadata"],
            "intent": {"name": INTENTS[text], "confidence": 0.9},
        }
        if len(self.message_ids) == 2:
            self.second_message.set()
        return web.json_response([{"recipient_id": body["sender"], "text": f"re: {text}"}])

    async def tracker(self, _request: web.Request) -> web.Response:
        self.log.append(("tracker", (self.latest or {}).get("text", "")))
        self.tracker_asked.set()
        await self.release.wait()
        return web.json_response({"latest_message": self.latest})


@dataclass
class Hub:
    conversations: ConversationService
    database: Database
    rasa: StandInRasa


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    rasa = StandInRasa()
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", rasa.webhook)
    app.router.add_get("/conversations/{id}/tracker", rasa.tracker)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    database = Database(f"sqlite:///{tmp_path}/hub.db")
    await database.migrate()
    dialogue = RasaClient(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}", 10.0)
    await dialogue.start()
    conversations = ConversationService(
        database,
        dialogue,
        HandoffService(database, HOURS),
        HOURS,
        max_text_chars=500,
        default_language="zh",
    )
    yield Hub(conversations, database, rasa)
    rasa.release.set()
    await conversations.settle()
    await dialogue.close()
    await runner.cleanup()
    database.dispose()


async def test_the_reply_does_not_wait_for_the_intent_and_the_next_message_does(hub: Hub) -> None:
    first = await hub.conversations.receive(InboundMessage("rest", "quick", "你好"))
    # Replied while Rasa's tracker has not answered yet.
    assert [r.text for r in first.replies] == ["re: 你好"]
    await hub.rasa.tracker_asked.wait()
    second = asyncio.create_task(
        hub.conversations.receive(InboundMessage("rest", "quick", "你是机器人吗"))
    )
    done, _ = await asyncio.wait({second}, timeout=OVERTAKE_WINDOW_S)
    # Held back behind the read.
    assert not done
    assert not hub.rasa.second_message.is_set()
    hub.rasa.release.set()
    assert [r.text for r in (await second).replies] == ["re: 你是机器人吗"]
    await hub.conversations.settle()
    assert hub.rasa.log == [
        ("webhook", "你好"),
        ("tracker", "你好"),
        ("webhook", "你是机器人吗"),
        ("tracker", "你是机器人吗"),
    ]
    kept = {
        text: await hub.database.transaction(partial(intent_of_message, message_id=message_id))
        for text, message_id in hub.rasa.message_ids.items()
    }
    assert kept == {"你好": ("greet", 0.9), "你是机器人吗": ("bot_challenge", 0.9)}


async def test_other_conversations_do_not_wait_for_the_read(hub: Hub) -> None:
    await hub.conversations.receive(InboundMessage("rest", "first", "你好"))
    await hub.rasa.tracker_asked.wait()
    other = await hub.conversations.receive(InboundMessage("rest", "second", "你是机器人吗"))
    assert [r.text for r in other.replies] == ["re: 你是机器人吗"]
