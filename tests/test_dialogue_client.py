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
async def rasa_stand_in() -> AsyncIterator[Callable[..., Awaitable[RasaClient]]]:
    runners: list[web.AppRunner] = []
    clients: list[RasaClient] = []

    # A timeout long enough for a loaded machine's quick answers; the slow case sets its own.
    async def start(
        webhook: Handler, actions_up: bool = True, timeout_s: float = 5.0
    ) -> RasaClient:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        if actions_up:
            app.router.add_get("/health", _healthy)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        client = RasaClient(
            f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}", timeout_s=timeout_s
        )
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
    # The slow stand-in answers after 2 s: the client gives up at 0.5 s.
    client = await rasa_stand_in(webhook, timeout_s=0.5 if webhook is _slow else 5.0)
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


class _HeldRasa:
    """A Rasa stand-in that holds every message until released, counting how many it holds."""

    def __init__(self) -> None:
        self.holding = 0
        self.most_held = 0
        self.received = 0
        self.release = asyncio.Event()
        self.arrived = asyncio.Condition()

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self.arrived:
            self.received += 1
            self.holding += 1
            self.most_held = max(self.most_held, self.holding)
            self.arrived.notify_all()
        try:
            await self.release.wait()
        finally:
            self.holding -= 1
        return web.json_response([{"recipient_id": body["sender"], "text": body["message"]}])


async def _client(rasa: _HeldRasa, max_in_flight: int, timeout_s: float) -> RasaClient:
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", rasa.webhook)
    app.router.add_get("/health", _healthy)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    client = RasaClient(url, url, timeout_s=timeout_s, max_in_flight=max_in_flight)
    await client.start()
    client._runner = runner  # type: ignore[attr-defined]  # cleaned up by the test
    return client


async def _stop(client: RasaClient) -> None:
    await client.close()
    await client._runner.cleanup()  # type: ignore[attr-defined]


async def test_at_most_max_in_flight_messages_are_at_rasa_at_once() -> None:
    rasa = _HeldRasa()
    client = await _client(rasa, max_in_flight=2, timeout_s=30)
    try:
        sends = [asyncio.create_task(client.send(f"c{n}", f"m{n}", {})) for n in range(5)]
        async with rasa.arrived:
            await rasa.arrived.wait_for(lambda: rasa.received == 2)
        rasa.release.set()
        replies = await asyncio.gather(*sends)
    finally:
        await _stop(client)
    assert [r[0].text for r in replies] == [f"m{n}" for n in range(5)]
    assert (rasa.received, rasa.most_held) == (5, 2)


async def test_a_message_that_cannot_get_its_turn_fails_unsent() -> None:
    # Every turn is taken for longer than the timeout (held here directly: a message holding
    # it would time out first and hand its turn over): the message waits the whole timeout,
    # fails, and never reaches Rasa, so no work is spent on an answer nobody would get.
    rasa = _HeldRasa()
    client = await _client(rasa, max_in_flight=1, timeout_s=0.5)
    try:
        async with client._turns:
            with pytest.raises(DialogueUnavailable, match="Rasa is busy: this message waited"):
                await client.send("c1", "late", {})
        rasa.release.set()
        assert [r.text for r in await client.send("c1", "next", {})] == ["next"]
    finally:
        rasa.release.set()
        await _stop(client)
    assert rasa.received == 1


def test_max_in_flight_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_in_flight is 0; give 1 or more"):
        RasaClient("http://127.0.0.1:1", "http://127.0.0.1:1", 1.0, max_in_flight=0)
