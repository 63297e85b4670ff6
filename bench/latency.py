"""Latency of a conversation turn through the hub (``/api/messages``) and directly against Rasa.

Both paths run the same scripted conversations in one run, interleaved, so that the hub's
overhead is a ratio that the machine's noise and Rasa's growing trackers affect alike.

    .venv/bin/python -m bench.latency [--conversations 40] [--concurrency 8]

Starts a private platform on free ports unless ``--hub-url`` and ``--rasa-url`` are given.
Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from tests.launch import PlatformProcess

logger = logging.getLogger("bench.latency")

SCRIPT = ["你好", "你是机器人吗", "hello", "are you a bot?", "谢谢", "bye"]

Send = Callable[[httpx.AsyncClient, str, str], Awaitable[None]]


def hub_sender(hub_url: str) -> Send:
    async def send(client: httpx.AsyncClient, sender: str, text: str) -> None:
        response = await client.post(
            f"{hub_url}/api/messages", json={"sender": sender, "text": text}
        )
        response.raise_for_status()

    return send


def rasa_sender(rasa_url: str) -> Send:
    async def send(client: httpx.AsyncClient, sender: str, text: str) -> None:
        response = await client.post(
            f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}
        )
        response.raise_for_status()

    return send


async def conversation(client: httpx.AsyncClient, send: Send, samples: list[float]) -> None:
    sender = uuid.uuid4().hex
    for text in SCRIPT:
        started = time.perf_counter()
        await send(client, sender, text)
        samples.append((time.perf_counter() - started) * 1000)


def summary(samples: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(samples)
    quantiles = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "turns": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(quantiles[94], 2),
        "p99_ms": round(quantiles[98], 2),
        "turns_per_s": round(len(ordered) / seconds, 1),
    }


async def measure(targets: dict[str, Send], conversations: int, concurrency: int) -> dict[str, Any]:
    samples: dict[str, dict[str, list[float]]] = {
        name: {"sequential": [], "concurrent": []} for name in targets
    }
    elapsed = {name: {"sequential": 0.0, "concurrent": 0.0} for name in targets}
    async with httpx.AsyncClient(timeout=60) as client:
        for send in targets.values():  # warm up both paths
            await conversation(client, send, [])
        for _ in range(conversations):  # sequential, interleaved conversation by conversation
            for name, send in targets.items():
                started = time.perf_counter()
                await conversation(client, send, samples[name]["sequential"])
                elapsed[name]["sequential"] += time.perf_counter() - started
        for name, send in targets.items():  # concurrent: C workers share the conversations
            remaining = [conversations]

            async def worker(
                send: Send = send,
                out: list[float] = samples[name]["concurrent"],
                remaining: list[int] = remaining,
            ) -> None:
                while remaining[0] > 0:
                    remaining[0] -= 1
                    await conversation(client, send, out)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed[name]["concurrent"] += time.perf_counter() - started
    result: dict[str, Any] = {
        name: {mode: summary(samples[name][mode], elapsed[name][mode]) for mode in samples[name]}
        for name in targets
    }
    for mode in ("sequential", "concurrent"):
        hub, rasa = result["hub"][mode], result["rasa"][mode]
        result.setdefault("hub_over_rasa", {})[mode] = {
            "p50_ratio": round(hub["p50_ms"] / rasa["p50_ms"], 3),
            "p95_ratio": round(hub["p95_ms"] / rasa["p95_ms"], 3),
            "throughput_ratio": round(hub["turns_per_s"] / rasa["turns_per_s"], 3),
        }
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--hub-url")
    parser.add_argument("--rasa-url")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    def run(hub_url: str, rasa_url: str) -> dict[str, Any]:
        targets = {"hub": hub_sender(hub_url), "rasa": rasa_sender(rasa_url)}
        return asyncio.run(measure(targets, args.conversations, args.concurrency))

    if args.hub_url and args.rasa_url:
        result = run(args.hub_url, args.rasa_url)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-latency-") as var:
            logger.info("Starting a private platform (training the model if needed)")
            with PlatformProcess(Path(var)) as platform:
                result = run(platform.hub_url, platform.rasa_url)
    result["script_turns"] = len(SCRIPT)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
