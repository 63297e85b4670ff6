"""Round trip of a text message over socket.io (the web-chat channel) against the REST path.

Both run the same scripted conversations, interleaved conversation by conversation, so the
machine's noise and Rasa's growing trackers affect them alike. A socket.io turn is timed from
``user_uttered`` until its acknowledgement, which the hub sends after every reply of the turn
was emitted as ``bot_uttered``; a REST turn until ``/api/messages`` answered with the replies.

    .venv/bin/python -m bench.webchat [--conversations 30] [--concurrency 6] [--hub-url URL]

Starts a private platform on free ports unless ``--hub-url`` is given. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import socketio

from bench.latency import summary
from tests.launch import PlatformProcess

logger = logging.getLogger("bench.webchat")

SCRIPT = ["你好", "你是机器人吗", "hello", "are you a bot?", "谢谢", "bye"]
GOAL_P95_RATIO = 1.2


async def socket_conversation(hub_url: str, samples: list[float]) -> None:
    client = socketio.AsyncClient(reconnection=False)
    confirmed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_confirm(session_id: Any) -> None:
        if not confirmed.done():
            confirmed.set_result(str(session_id))

    client.on("session_confirm", on_confirm)
    await client.connect(hub_url, transports=["websocket"], wait_timeout=10)
    try:
        await client.emit("session_request", {})
        session_id = await asyncio.wait_for(confirmed, 10)
        for text in SCRIPT:
            started = time.perf_counter()
            ack = await client.call(
                "user_uttered",
                {"message": text, "session_id": session_id, "customData": {}},
                timeout=60,
            )
            if not ack.get("ok"):
                raise RuntimeError(f"the hub refused a message: {ack}")
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        await client.disconnect()


async def rest_conversation(client: httpx.AsyncClient, hub_url: str, samples: list[float]) -> None:
    sender = uuid.uuid4().hex
    for text in SCRIPT:
        started = time.perf_counter()
        response = await client.post(
            f"{hub_url}/api/messages", json={"sender": sender, "text": text}
        )
        response.raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)


async def measure(hub_url: str, conversations: int, concurrency: int) -> dict[str, Any]:
    samples: dict[str, dict[str, list[float]]] = {
        path: {"sequential": [], "concurrent": []} for path in ("socketio", "rest")
    }
    elapsed = {path: {"sequential": 0.0, "concurrent": 0.0} for path in samples}
    async with httpx.AsyncClient(timeout=60) as client:
        runs: dict[str, Callable[[list[float]], Awaitable[None]]] = {
            "socketio": lambda out: socket_conversation(hub_url, out),
            "rest": lambda out: rest_conversation(client, hub_url, out),
        }
        for run in runs.values():  # warm up both paths
            await run([])
        for _ in range(conversations):
            for path, run in runs.items():
                started = time.perf_counter()
                await run(samples[path]["sequential"])
                elapsed[path]["sequential"] += time.perf_counter() - started
        for path, run in runs.items():
            remaining = [conversations]

            async def worker(
                run: Callable[[list[float]], Awaitable[None]] = run,
                out: list[float] = samples[path]["concurrent"],
                remaining: list[int] = remaining,
            ) -> None:
                while remaining[0] > 0:
                    remaining[0] -= 1
                    await run(out)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed[path]["concurrent"] += time.perf_counter() - started
    result: dict[str, Any] = {
        path: {mode: summary(samples[path][mode], elapsed[path][mode]) for mode in samples[path]}
        for path in samples
    }
    for mode in ("sequential", "concurrent"):
        ratio = result["socketio"][mode]["p95_ms"] / result["rest"][mode]["p95_ms"]
        result.setdefault("socketio_over_rest", {})[mode] = {
            "p50_ratio": round(
                result["socketio"][mode]["p50_ms"] / result["rest"][mode]["p50_ms"], 3
            ),
            "p95_ratio": round(ratio, 3),
            "meets_goal": ratio <= GOAL_P95_RATIO,
        }
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--hub-url")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per turn drowns the log
    if args.hub_url:
        result = asyncio.run(measure(args.hub_url, args.conversations, args.concurrency))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-webchat-") as var:
            logger.info("Starting a private platform (training the model if needed)")
            with PlatformProcess(Path(var)) as platform:
                result = asyncio.run(
                    measure(platform.hub_url, args.conversations, args.concurrency)
                )
    result["script_turns"] = len(SCRIPT)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
