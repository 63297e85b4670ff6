"""A REST customer gets their ticket news (an agent's reply, a status change) in the answer to
their next message, once. The hub is served for real; Rasa is a local HTTP server answering as
Rasa does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bot.app import Settings
from tests.launch import free_port
from tests.live_hub import serving

KEY = "k" * 32
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def rasa_port() -> AsyncIterator[int]:
    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response([{"recipient_id": body["sender"], "text": "好的，收到。"}])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port
    await runner.cleanup()


async def test_ticket_news_comes_with_the_next_answer_once(tmp_path: Path, rasa_port: int) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, var_dir=tmp_path, rasa_port=rasa_port, api_key=KEY
    )
    async with serving(settings) as hub, httpx.AsyncClient(base_url=hub.url, headers=AUTH) as api:
        ticket = {
            "customer_id": "customer-9",
            "subject": "耳机左边没有声音",
            "description": "收到的耳机左耳没有声音",
            "category": "product",
            "language": "zh",
        }
        other = {**ticket, "customer_id": "customer-10"}
        number = (await api.post("/api/tickets", json=ticket)).json()["number"]
        theirs = (await api.post("/api/tickets", json=other)).json()["number"]
        for n in (number, theirs):
            replied = await api.post(f"/api/tickets/{n}/replies", json={"text": "已为您补发"})
            assert replied.status_code == 200, replied.text
        version = replied.json()["version"]
        changed = await api.patch(
            f"/api/tickets/{theirs}", json={"status": "resolved", "version": version}
        )
        assert changed.status_code == 200, changed.text

        first = await api.post("/api/messages", json={"sender": "customer-9", "text": "在吗"})
        assert first.status_code == 200, first.text
        assert first.json()["replies"] == [
            {
                "text": f"您的工单 {number} 有新回复：已为您补发",
                "buttons": [],
                "image": None,
                "custom": {"ticket": number, "kind": "ticket_reply"},
            },
            {"text": "好的，收到。", "buttons": [], "image": None, "custom": None},
        ]
        again = await api.post("/api/messages", json={"sender": "customer-9", "text": "谢谢"})
        assert [r["text"] for r in again.json()["replies"]] == ["好的，收到。"]
        # The other customer's news waits for them, reply then status, in order.
        them = await api.post("/api/messages", json={"sender": "customer-10", "text": "hi"})
        assert [r["custom"] for r in them.json()["replies"]] == [
            {"ticket": theirs, "kind": "ticket_reply"},
            {"ticket": theirs, "kind": "ticket_status"},
            None,
        ]
