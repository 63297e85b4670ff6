"""Acknowledgements first (``channels/connector/_acks.py``): a delivery is handled once no app
webhook is being answered, at most ``max_wait_s`` later. The real hub (uvicorn, real SQLite)
with a local server standing in for WeChat's API and for Rasa; webhooks sealed with wechatpy's
own crypto."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench.channels import AES_KEY, APP_ID, TOKEN, sealed
from channels.connector import AckFirst
from tests.app_standin import AppStandIn
from tests.live_hub import serving
from tests.test_channels_wechat import settings_for
from tests.waiting import wait_until_async

WAIT_S = 30.0


async def until(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` (state of the hub in this event loop, which has no event for it)."""
    await wait_until_async(check, what, timeout_s=WAIT_S, interval_s=0.01)


async def test_a_delivery_waits_while_a_webhook_is_being_answered(
    tmp_path: Path, stand_in: AppStandIn
) -> None:
    settings = settings_for(
        tmp_path,
        stand_in,
        wechat_app_id=APP_ID,
        wechat_token=TOKEN,
        wechat_aes_key=AES_KEY,
        rate_limits_enabled=False,
    )
    async with serving(settings) as hub:
        gate: AckFirst = hub.app.state.apps.acks
        gate.max_wait_s = WAIT_S  # this test ends the slow webhook itself
        port = int(hub.url.rsplit(":", 1)[1])
        # A: a webhook whose body is still on its way (the app is called once the headers
        # are in, and reads the body as it comes).
        params_a, body_a = sealed("slow one", "oSlowSender", 1001)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            head = (
                f"POST /channels/wechat?{urlencode(params_a)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Length: {len(body_a)}\r\nContent-Type: text/xml\r\n\r\n"
            )
            writer.write(head.encode() + body_a[:20])
            await writer.drain()
            await until(lambda: gate.answering == 1, "the slow webhook to reach the hub")
            # B: another customer's whole webhook is acknowledged at once...
            params_b, body_b = sealed("quick one", "oQuickSender", 1002)
            async with httpx.AsyncClient(timeout=WAIT_S) as client:
                answer = await client.post(
                    f"{hub.url}/channels/wechat", params=params_b, content=body_b
                )
            assert answer.text == "success"
            # ... and its handling waits for its turn: Rasa has not been asked, nothing sent.
            await until(lambda: gate.waiting == 1, "the quick delivery to wait for its turn")
            assert stand_in.rasa_seen == []
            assert stand_in.sent == []
            # A's body arrives: A is acknowledged, then both are handled and answered.
            writer.write(body_a[20:])
            await writer.drain()
            response = await asyncio.wait_for(reader.read(4096), WAIT_S)
            assert response.startswith(b"HTTP/1.1 200")
            assert response.endswith(b"success")
            await asyncio.to_thread(
                stand_in.wait_for,
                lambda: {"echo: slow one", "echo: quick one"} <= set(stand_in.texts()),
                "both replies",
            )
        finally:
            writer.close()  # a request left half-sent would hold the hub's shutdown
        assert gate.answering == 0
        assert gate.waiting == 0


async def test_the_wait_is_bounded_and_free_when_nothing_is_being_answered() -> None:
    gate = AckFirst(max_wait_s=0.05)
    started = time.monotonic()
    await gate.turn()  # nothing being answered: no wait at all
    assert gate.waiting == 0
    with gate.answering_one():
        waiter = asyncio.create_task(gate.turn())
        await until(lambda: gate.waiting == 1, "the handler to wait")
        # A webhook that never ends holds the handler back for max_wait_s, not longer.
        await asyncio.wait_for(waiter, WAIT_S)
        assert gate.waiting == 0
        assert gate.answering == 1
    assert time.monotonic() - started >= 0.05
    # Two webhooks at once: the handler's turn comes when the last one is answered.
    gate.max_wait_s = WAIT_S
    with gate.answering_one():
        with gate.answering_one():
            waiter = asyncio.create_task(gate.turn())
            await until(lambda: gate.waiting == 1, "the handler to wait")
        assert not waiter.done()
    await asyncio.wait_for(waiter, WAIT_S)
