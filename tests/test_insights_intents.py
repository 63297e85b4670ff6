"""Intents of bot-handled turns: the hub reads each message's intent back from Rasa's tracker,
stores it with the message, and analytics' top intents count them.

The hub is served for real (uvicorn, SQLite); Rasa is a local HTTP server answering the REST
webhook and the tracker API as Rasa does (the tracker's latest message carries the metadata the
hub sent with it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.app import Settings
from bot.app._analytics import build_analytics
from bot.app._container import build_hub_services
from bot.insights import MessageIntent
from bot.storage import Message
from tests.launch import free_port
from tests.live_hub import serving

KEY = "intents-test-key-0123456789abcdef"
# What the stand-in's NLU makes of each text: (intent, confidence).
NLU = {
    "hello": ("greet", 0.99),
    "where is my order": ("check_order_status", 0.91),
    "I want a refund": ("request_return_refund", 0.87),
    "refund again please": ("request_return_refund", 0.8),
    "thanks": ("thanks", 0.97),
}


@dataclass
class RasaStandIn:
    """Rasa's REST webhook and tracker API; knobs say how the tracker misbehaves."""

    port: int = field(default_factory=free_port)
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)  # sender -> last body
    previous: dict[str, dict[str, Any]] = field(default_factory=dict)
    lagging: set[str] = field(default_factory=set)  # texts whose tracker shows the message before
    broken: set[str] = field(default_factory=set)  # texts whose tracker answers HTTP 500
    odd: dict[str, Any] = field(default_factory=dict)  # text -> the intent object shown instead
    garbled: set[str] = field(default_factory=set)  # texts whose tracker is not an object

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        sender = str(body["sender"])
        if sender in self.latest:
            self.previous[sender] = self.latest[sender]
        self.latest[sender] = body
        return web.json_response([{"recipient_id": sender, "text": f"ok: {body['message']}"}])

    async def tracker(self, request: web.Request) -> web.Response:
        sender = request.match_info["id"]
        body = self.latest[sender]
        text = str(body["message"])
        if text in self.broken:
            return web.json_response({"error": "boom"}, status=500)
        if text in self.garbled:
            return web.json_response(["not", "a", "tracker"])
        if text in self.lagging:
            body = self.previous[sender]
        name, confidence = NLU.get(str(body["message"]), ("nlu_fallback", 0.3))
        intent = self.odd.get(text, {"name": name, "confidence": confidence})
        # Rasa's ranking, best first, with entries a broken model might send among them.
        ranking = [
            {"name": name, "confidence": confidence},
            {"name": "thanks", "confidence": "high"},
            {"name": "complain", "confidence": round(1 - confidence, 2)},
            {"name": "", "confidence": 0.01},
            {"name": "goodbye", "confidence": 0.005},
            {"name": "greet", "confidence": 0.001},
        ]
        latest = {
            "text": body["message"],
            "intent": intent,
            "intent_ranking": ranking,
            "metadata": body["metadata"],
        }
        return web.json_response({"sender_id": sender, "latest_message": latest})

    async def healthy(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


@pytest.fixture
async def rasa() -> AsyncIterator[RasaStandIn]:
    stand_in = RasaStandIn()
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", stand_in.webhook)
    app.router.add_get("/conversations/{id}/tracker", stand_in.tracker)
    app.router.add_get("/health", stand_in.healthy)
    app.router.add_get("/", stand_in.healthy)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", stand_in.port).start()
    yield stand_in
    await runner.cleanup()


def settings_for(var_dir: Path, rasa: RasaStandIn) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=var_dir,
        rasa_port=rasa.port,
        actions_port=rasa.port,
        api_key=KEY,
    )


async def converse(url: str, turns: list[tuple[str, str]]) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        for sender, text in turns:
            answer = await client.post("/api/messages", json={"sender": sender, "text": text})
            assert answer.status_code == 200, answer.text
            assert [r["text"] for r in answer.json()["replies"]] == [f"ok: {text}"]


async def stored_intents(settings: Settings) -> dict[str, tuple[str, float | None]]:
    hub = build_hub_services(settings)
    try:
        rows = await hub.database.transaction(
            lambda c: c.execute(
                select(Message.text, MessageIntent.intent, MessageIntent.confidence).join(
                    MessageIntent, MessageIntent.message_id == Message.id
                )
            ).all()
        )
    finally:
        hub.tracker_events.dispose()
        hub.database.dispose()
    return {text: (intent, confidence) for text, intent, confidence in rows}


async def stored_rankings(settings: Settings) -> dict[str, Any]:
    hub = build_hub_services(settings)
    try:
        rows = await hub.database.transaction(
            lambda c: c.execute(
                select(Message.text, MessageIntent.ranking).join(
                    MessageIntent, MessageIntent.message_id == Message.id
                )
            ).all()
        )
    finally:
        hub.tracker_events.dispose()
        hub.database.dispose()
    return {text: ranking for text, ranking in rows}


async def test_each_bot_turn_keeps_its_intent_and_top_intents_count_them(
    tmp_path: Path, rasa: RasaStandIn
) -> None:
    settings = settings_for(tmp_path, rasa)
    rasa.lagging.add("is it late?")  # the tracker still shows the customer's previous message
    rasa.broken.add("anyone there?")
    rasa.garbled.add("what?")
    rasa.odd["hm"] = {"name": "<script>x</script>" * 10, "confidence": 7}
    async with serving(settings) as hub:
        await converse(
            hub.url,
            [
                ("alice", "hello"),
                ("alice", "where is my order"),
                ("alice", "is it late?"),
                ("bob", "I want a refund"),
                ("bob", "thanks"),
                ("carol", "hello"),
                ("carol", "anyone there?"),
                ("dan", "refund again please"),
                ("dan", "what?"),
                ("erin", "hm"),
            ],
        )
    assert await stored_intents(settings) == {
        "hello": ("greet", 0.99),
        "where is my order": ("check_order_status", 0.91),
        "I want a refund": ("request_return_refund", 0.87),
        "thanks": ("thanks", 0.97),
        "refund again please": ("request_return_refund", 0.8),
        # Kept as text (cut to the column), never run; an impossible confidence is dropped.
        "hm": (("<script>x</script>" * 10)[:64], None),
    }
    # The top 3 of Rasa's ranking is kept with the intent (what is not an intent with a
    # confidence in 0…1 left out), for the supervisors' list of unsure messages.
    rankings = await stored_rankings(settings)
    assert rankings["where is my order"] == [
        ["check_order_status", 0.91],
        ["complain", 0.09],
        ["goodbye", 0.005],
    ]
    assert rankings["hm"] == [["nlu_fallback", 0.3], ["complain", 0.7], ["goodbye", 0.005]]
    hub_services = build_hub_services(settings)
    try:
        analytics = build_analytics(settings, hub_services.database, hub_services.tickets)
        today = datetime.now(UTC).date()
        await analytics.service.rebuild(today, today)
        report = await analytics.service.report(today, today)
        assert report["top_intents"] == [
            {"intent": "request_return_refund", "conversations": 2},
            {"intent": ("<script>x</script>" * 10)[:64], "conversations": 1},
            {"intent": "check_order_status", "conversations": 1},
        ]  # carol only greeted: her conversation has no task intent
        assert report["totals"]["conversations"] == 5
        # Erasing a customer erases the intents of their messages.
        erased = await hub_services.conversations.erase_customer("rest", "bob")
        assert erased["messages"] == 4
    finally:
        hub_services.tracker_events.dispose()
        hub_services.database.dispose()
    assert "I want a refund" not in await stored_intents(settings)
    assert "thanks" not in await stored_intents(settings)
