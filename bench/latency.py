"""Latency of a conversation turn through the hub (``/api/messages``) and directly against Rasa.

Both paths run the same scripted conversations in one run, interleaved, so that the hub's
overhead is a ratio that the machine's noise and Rasa's growing trackers affect alike.

    .venv/bin/python -m bench.latency [--conversations 40] [--concurrency 8]
    .venv/bin/python -m bench.latency --compare /path/to/older/checkout

Starts a private platform on free ports unless ``--hub-url`` and ``--rasa-url`` are given.
``--compare`` starts a second one from another checkout of the project (an older commit, with
the same ``.venv`` and ``.venv-rasa``) and runs both platforms' hubs and Rasas interleaved in one
run, so that "this change made the hub slower" is a ratio measured under the same load.
Prints JSON (with the load average before and after).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from tests.launch import PlatformProcess

logger = logging.getLogger("bench.latency")

START_TIMEOUT_S = 900.0
REQUEST_TIMEOUT_S = 180.0  # a turn on a machine shared with other work can take long
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


# (name, numerator, denominator) of the ratios a run reports.
Ratio = tuple[str, str, str]
HUB_OVER_RASA: list[Ratio] = [("hub_over_rasa", "hub", "rasa")]
NEW_OVER_OLD: list[Ratio] = [
    ("hub_new_over_old", "hub", "old_hub"),
    ("rasa_new_over_old", "rasa", "old_rasa"),
    ("hub_over_rasa", "hub", "rasa"),
    ("old_hub_over_old_rasa", "old_hub", "old_rasa"),
]


async def measure(
    targets: dict[str, Send],
    conversations: int,
    concurrency: int,
    ratios: list[Ratio] = HUB_OVER_RASA,
) -> dict[str, Any]:
    samples: dict[str, dict[str, list[float]]] = {
        name: {"sequential": [], "concurrent": []} for name in targets
    }
    elapsed = {name: {"sequential": 0.0, "concurrent": 0.0} for name in targets}
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as client:
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
    for label, top, bottom in ratios:
        for mode in ("sequential", "concurrent"):
            a, b = result[top][mode], result[bottom][mode]
            result.setdefault(label, {})[mode] = {
                "p50_ratio": round(a["p50_ms"] / b["p50_ms"], 3),
                "p95_ratio": round(a["p95_ms"] / b["p95_ms"], 3),
                "throughput_ratio": round(a["turns_per_s"] / b["turns_per_s"], 3),
            }
    return result


def compare(
    old_checkout: Path, run: Callable[[dict[str, Send], list[Ratio]], dict[str, Any]]
) -> dict[str, Any]:
    """Both platforms, this checkout's and ``old_checkout``'s, started one after the other and
    timed together (each trains its own model first if it has none)."""
    if not (old_checkout / "bot" / "__main__.py").is_file():
        raise SystemExit(f"--compare needs a checkout of this project, not {old_checkout}")
    with (
        tempfile.TemporaryDirectory(prefix="bench-latency-new-") as new_var,
        tempfile.TemporaryDirectory(prefix="bench-latency-old-") as old_var,
    ):
        logger.info("Starting this checkout's platform, then %s's", old_checkout)
        with ExitStack() as running:
            new = PlatformProcess(Path(new_var))
            old = PlatformProcess(Path(old_var), project_root=old_checkout)
            running.callback(new.stop)
            running.callback(old.stop)
            # Started side by side: a first start ingests the knowledge base, minutes on two
            # busy cores.
            with ThreadPoolExecutor(max_workers=2) as starting:
                for started in [starting.submit(p.start, START_TIMEOUT_S) for p in (new, old)]:
                    started.result()
            targets = {
                "hub": hub_sender(new.hub_url),
                "rasa": rasa_sender(new.rasa_url),
                "old_hub": hub_sender(old.hub_url),
                "old_rasa": rasa_sender(old.rasa_url),
            }
            result = run(targets, NEW_OVER_OLD)
    result["old_checkout"] = str(old_checkout)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--hub-url")
    parser.add_argument("--rasa-url")
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="OLD_CHECKOUT",
        help="also start the platform of this older checkout and time both, interleaved",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    load_before = os.getloadavg()

    def run(targets: dict[str, Send], ratios: list[Ratio] = HUB_OVER_RASA) -> dict[str, Any]:
        return asyncio.run(measure(targets, args.conversations, args.concurrency, ratios))

    if args.hub_url and args.rasa_url:
        result = run({"hub": hub_sender(args.hub_url), "rasa": rasa_sender(args.rasa_url)})
    elif args.compare:
        result = compare(args.compare.resolve(), run)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-latency-") as var:
            logger.info("Starting a private platform (training the model if needed)")
            with PlatformProcess(Path(var)) as platform:
                result = run(
                    {"hub": hub_sender(platform.hub_url), "rasa": rasa_sender(platform.rasa_url)}
                )
    result["script_turns"] = len(SCRIPT)
    result["load_average_1_5_15"] = {
        "before": [round(x, 2) for x in load_before],
        "after": [round(x, 2) for x in os.getloadavg()],
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
