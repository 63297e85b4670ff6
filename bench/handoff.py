"""Handoff latencies on a private platform: request → visible in the console; supervisor view load.

    .venv/bin/python -m bench.handoff [--handoffs 30] [--messages 50] [--concurrent 50]

1. ``visible``: a customer's angry message (REST) until the agent's console has been told over
   socket.io and its queue API lists the conversation; p50/p95 over ``--handoffs`` requests.
2. ``delivery``: an agent's message (console API) until the customer's web-chat socket receives
   it as ``bot_uttered``; p50/p95 over ``--messages`` messages.
3. ``supervisor``: ``--concurrent`` conversations handed off at once while a supervisor's view
   refreshes on every live event; counts errors and measures the view's refresh latency.
Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import socketio

from tests.launch import PlatformProcess

logger = logging.getLogger("bench.handoff")
PASSWORD = "bench password"
ANGRY = "你们这什么垃圾服务，我要投诉！！"


def add_agent(platform: PlatformProcess, username: str, *extra: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "bot", "agents", "add", username, "--max-chats", "50", *extra],
        env={**platform.env, "BOT_NEW_AGENT_PASSWORD": PASSWORD},
        check=True,
        capture_output=True,
    )


async def console_client(platform: PlatformProcess, username: str) -> tuple[httpx.AsyncClient, str]:
    client = httpx.AsyncClient(base_url=platform.hub_url, timeout=30)
    response = await client.post(
        "/console/api/login", json={"username": username, "password": PASSWORD}
    )
    response.raise_for_status()
    client.headers["X-CSRF-Token"] = response.cookies["console_csrf"]
    return client, response.cookies["console_session"]


async def live(
    platform: PlatformProcess, cookie: str, events: asyncio.Queue[str]
) -> socketio.AsyncClient:
    sio = socketio.AsyncClient()
    for name in ("queue", "assigned"):
        sio.on(name, (lambda n: lambda *_: events.put_nowait(n))(name), namespace="/console")
    await sio.connect(
        platform.hub_url,
        namespaces=["/console"],
        headers={"Cookie": f"console_session={cookie}"},
        transports=["websocket"],
    )
    return sio


def quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    cuts = (
        statistics.quantiles(ordered, n=100, method="inclusive")
        if len(ordered) > 1
        else ordered * 99
    )
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(cuts[94], 1),
        "max_ms": round(ordered[-1], 1),
    }


async def measure_visible(platform: PlatformProcess, handoffs: int) -> dict[str, Any]:
    client, cookie = await console_client(platform, "bench-agent")
    await client.post("/console/api/presence", json={"presence": "away"})  # see, don't auto-take
    events: asyncio.Queue[str] = asyncio.Queue()
    sio = await live(platform, cookie, events)
    samples = []
    async with httpx.AsyncClient(base_url=platform.hub_url, timeout=30) as customer:
        for _ in range(handoffs):
            sender = uuid.uuid4().hex
            while not events.empty():
                events.get_nowait()
            started = time.perf_counter()
            answer = (
                await customer.post("/api/messages", json={"sender": sender, "text": ANGRY})
            ).json()
            assert answer["mode"] == "waiting", answer
            while True:
                await asyncio.wait_for(events.get(), timeout=10)
                queue = (await client.get("/console/api/queue")).json()
                if any(h["conversation_id"] == answer["conversation_id"] for h in queue):
                    break
            samples.append((time.perf_counter() - started) * 1000)
    await sio.disconnect()
    await client.aclose()
    return quantiles(samples)


async def measure_delivery(platform: PlatformProcess, messages: int) -> dict[str, Any]:
    client, _ = await console_client(platform, "bench-agent")
    (await client.post("/console/api/presence", json={"presence": "online"})).raise_for_status()
    loop = asyncio.get_running_loop()
    confirmed: asyncio.Future[str] = loop.create_future()
    received: asyncio.Queue[tuple[str, float]] = asyncio.Queue()

    def on_confirm(session_id: Any) -> None:
        if not confirmed.done():
            confirmed.set_result(str(session_id))

    customer = socketio.AsyncClient(reconnection=False)
    customer.on("session_confirm", on_confirm)
    customer.on(
        "bot_uttered",
        lambda data: received.put_nowait((str(data.get("text", "")), time.perf_counter())),
    )
    await customer.connect(platform.hub_url, transports=["websocket"], wait_timeout=10)
    samples = []
    try:
        await customer.emit("session_request", {})
        session_id = await asyncio.wait_for(confirmed, 10)
        ack = await customer.call(
            "user_uttered",
            {"message": ANGRY, "session_id": session_id, "customData": {}},
            timeout=60,
        )
        conversation_id = ack["conversation_id"]
        handoff_id = None
        while handoff_id is None:
            queue = (await client.get("/console/api/queue")).json()
            handoff_id = next(
                (h["id"] for h in queue if h["conversation_id"] == conversation_id), None
            )
            await asyncio.sleep(0.1)
        (await client.post(f"/console/api/handoffs/{handoff_id}/accept")).raise_for_status()
        for n in range(messages):
            text = f"您好，这是客服的第 {n + 1} 条消息。"
            started = time.perf_counter()
            posted = await client.post(
                f"/console/api/handoffs/{handoff_id}/messages", json={"text": text}
            )
            posted.raise_for_status()
            while True:
                got, at = await asyncio.wait_for(received.get(), timeout=10)
                if got == text:
                    break
            samples.append((at - started) * 1000)
        await client.post(f"/console/api/handoffs/{handoff_id}/close", json={"resolution": "ok"})
    finally:
        await customer.disconnect()
        await client.aclose()
    return quantiles(samples)


async def measure_supervisor(platform: PlatformProcess, concurrent: int) -> dict[str, Any]:
    client, cookie = await console_client(platform, "bench-boss")
    events: asyncio.Queue[str] = asyncio.Queue()
    sio = await live(platform, cookie, events)
    refreshes: list[float] = []
    errors = 0
    done = asyncio.Event()

    async def supervisor_view() -> None:
        nonlocal errors
        while not done.is_set():
            try:
                await asyncio.wait_for(events.get(), timeout=0.5)
            except TimeoutError:
                continue
            started = time.perf_counter()
            response = await client.get("/console/api/supervisor")
            if response.status_code != 200:
                errors += 1
            refreshes.append((time.perf_counter() - started) * 1000)

    async def customer(sender: str, http: httpx.AsyncClient) -> str:
        answer = (await http.post("/api/messages", json={"sender": sender, "text": ANGRY})).json()
        return str(answer["mode"])

    watcher = asyncio.create_task(supervisor_view())
    async with httpx.AsyncClient(base_url=platform.hub_url, timeout=60) as http:
        modes = await asyncio.gather(*(customer(uuid.uuid4().hex, http) for _ in range(concurrent)))
    await asyncio.sleep(1.0)
    final = (await client.get("/console/api/supervisor")).json()
    done.set()
    await watcher
    await sio.disconnect()
    await client.aclose()
    return {
        "conversations": concurrent,
        "handed_off": modes.count("waiting"),
        "open_in_view": final["open_conversations"],
        "view_errors": errors,
        "view_refresh": quantiles(refreshes) if refreshes else {},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handoffs", type=int, default=30)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--concurrent", type=int, default=50)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-handoff-") as var:
        platform = PlatformProcess(Path(var), extra_env={"BOT_BUSINESS_HOURS": "00:00-24:00"})
        with platform:
            add_agent(platform, "bench-agent")
            add_agent(platform, "bench-boss", "--role", "supervisor")
            visible = asyncio.run(measure_visible(platform, args.handoffs))
            delivery = asyncio.run(measure_delivery(platform, args.messages))
            supervisor = asyncio.run(measure_supervisor(platform, args.concurrent))
    report = {
        "handoff_visible": visible,
        "agent_to_customer": delivery,
        "supervisor_view": supervisor,
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
