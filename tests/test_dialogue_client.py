"""RasaClient's error mapping, against a local HTTP server that answers as a failing Rasa would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from bot.dialogue import BotReply, Button, DialogueUnavailable, RasaClient
from tests.launch import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _healthy(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@pytest.fixture
async def rasa_stand_in() -> AsyncIterator[Callable[[Handler, bool], Awaitable[RasaClient]]]:
    runners: list[web.AppRunner] = []
    clients: list[RasaClient] = []

    async def start(webhook: Handler, actions_up: bool = True) -> RasaClient:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        if actions_up:
            app.router.add_get("/health", _healthy)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        client = RasaClient(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}", timeout_s=0.5)
        await client.start()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
    for runner in runners:
        await runner.cleanup()


async def test_replies_are_parsed(rasa_stand_in) -> None:  # type: ignore[no-untyped-def]
    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        assert body == {"sender": "c1", "message": "hi", "metadata": {"language": "en"}}
        return web.json_response(
            [
                {"recipient_id": "c1", "text": "Hello"},
                {
                    "recipient_id": "c1",
                    "text": "Pick one",
                    "buttons": [{"title": "A", "payload": "/a"}],
                },
            ]
        )

    client = await rasa_stand_in(webhook)
    replies = await client.send("c1", "hi", {"language": "en"})
    assert replies == [
        BotReply(text="Hello"),
        BotReply(text="Pick one", buttons=[Button(title="A", payload="/a")]),
    ]


async def _server_error(_request: web.Request) -> web.Response:
    return web.Response(status=500, text="boom")


async def _garbage(_request: web.Request) -> web.Response:
    return web.Response(text="<html>not json</html>", content_type="text/html")


async def _wrong_shape(_request: web.Request) -> web.Response:
    return web.json_response({"text": "not a list"})


async def _slow(_request: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return web.json_response([])


@pytest.mark.parametrize(
    ("webhook", "reason"),
    [
        (_server_error, "Rasa answered HTTP 500"),
        (_garbage, "Rasa returned a reply the hub cannot read"),
        (_wrong_shape, "Rasa returned a reply the hub cannot read"),
        (_slow, "Rasa did not answer within 0.5 s"),
    ],
)
async def test_failures_become_dialogue_unavailable(rasa_stand_in, webhook, reason) -> None:  # type: ignore[no-untyped-def]
    client = await rasa_stand_in(webhook)
    with pytest.raises(DialogueUnavailable, match=reason):
        await client.send("c1", "hi", {})


async def test_empty_reply_with_action_server_down_is_a_failure(rasa_stand_in) -> None:  # type: ignore[no-untyped-def]
    async def silent(_request: web.Request) -> web.Response:
        return web.json_response([])

    up = await rasa_stand_in(silent, True)
    assert await up.send("c1", "hi", {}) == []  # Rasa may legitimately say nothing
    down = await rasa_stand_in(silent, False)
    with pytest.raises(DialogueUnavailable, match="the action server cannot be reached"):
        await down.send("c1", "hi", {})


async def test_unreachable_rasa() -> None:
    client = RasaClient(f"http://127.0.0.1:{free_port()}", "http://127.0.0.1:1", timeout_s=1)
    await client.start()
    try:
        with pytest.raises(DialogueUnavailable, match="Rasa cannot be reached"):
            await client.send("c1", "hi", {})
        assert await client.rasa_healthy() is False
    finally:
        await client.close()
