"""Parse latency while Rasa swaps its model (``PUT /model``): stock Rasa 3.6 against the
platform's entry point (bot/app/rasa_main.py), which loads the new model off the event loop.

    .venv/bin/python -m bench.model_swap [--swaps 3] [--rate 4]

Starts two Rasa servers on free ports with the platform's model and endpoints (SQLite tracker
store in a temporary folder): ``python -m rasa run`` (stock) and ``rasa_main.py run`` (ours).
Each swap sends ``POST /model/parse`` at a steady rate (one request every 1/rate s, whether or
not the last one was answered, as customers do) from before the PUT until after it, and swaps
between the platform's model and a copy of it under another name. The two servers take turns
swap by swap, so both see the same machine load. Reported: the latency of the parses that were
in flight at any moment of a PUT (p50/p95/max), the same for the parses outside the PUTs, the
PUT's own duration, and stock/ours ratios. Prints JSON with the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.app import Settings, platform_processes
from bot.dialogue import train
from tests.launch import free_port

logger = logging.getLogger("bench.model_swap")

START_TIMEOUT_S = 600.0
REQUEST_TIMEOUT_S = 300.0
TEXTS = ["where is my order?", "我要退货", "hello", "你是机器人吗", "I want a refund", "谢谢"]
WAYS = ("stock", "off_loop")


@dataclass
class Way:
    """One Rasa server and what was measured against it."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    during: list[float] = field(default_factory=list)  # parses in flight during a PUT
    outside: list[float] = field(default_factory=list)
    put_s: list[float] = field(default_factory=list)


def start_rasa(settings: Settings, model: Path, stock: bool, log: Path) -> subprocess.Popen[bytes]:
    """Rasa as the supervisor starts it, or the same through ``python -m rasa`` (stock)."""
    spec = platform_processes(settings, model)[0]
    command = list(spec.command)
    if stock:  # no token: the API is open, on loopback, for this benchmark only
        command[1:2] = ["-m", "rasa"]
    with log.open("ab") as out:
        return subprocess.Popen(
            command, env=spec.env, cwd=spec.cwd, stdout=out, stderr=subprocess.STDOUT
        )


async def wait_ready(client: httpx.AsyncClient, way: Way, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if way.process.poll() is not None:
            raise RuntimeError(f"Rasa ({way.name}) exited; see {log}")
        try:
            ready = (await client.get(f"{way.url}/", timeout=5)).status_code == 200
        except httpx.HTTPError:
            ready = False  # not listening yet
        if ready:
            return
        await asyncio.sleep(1)  # polling a process that has no readiness signal
    raise TimeoutError(f"Rasa ({way.name}) was not ready within {START_TIMEOUT_S:.0f} s")


async def swap_under_traffic(
    client: httpx.AsyncClient, way: Way, model: Path, rate: float, around_s: float
) -> None:
    """One PUT /model amid a steady stream of parses; the latencies go into ``way``."""
    samples: list[tuple[float, float]] = []
    stop = asyncio.Event()

    async def one(text: str) -> None:
        sent = time.monotonic()
        response = await client.post(f"{way.url}/model/parse", json={"text": text})
        response.raise_for_status()
        samples.append((sent, time.monotonic()))

    async def stream() -> None:
        sent: list[asyncio.Task[None]] = []
        while not stop.is_set():
            sent.append(asyncio.create_task(one(TEXTS[len(sent) % len(TEXTS)])))
            await asyncio.sleep(1 / rate)  # the pace of the stream, not a synchronisation
        await asyncio.gather(*sent)

    streaming = asyncio.create_task(stream())
    await asyncio.sleep(around_s)  # steady traffic before the swap
    began = time.monotonic()
    response = await client.put(f"{way.url}/model", json={"model_file": str(model)})
    ended = time.monotonic()
    if response.status_code != 204:
        raise RuntimeError(f"Rasa ({way.name}) did not load {model}: {response.text[:300]}")
    await asyncio.sleep(around_s)  # and after it
    stop.set()
    await streaming
    way.put_s.append(round(ended - began, 2))
    for sent, answered in samples:
        overlaps = sent < ended and answered > began
        (way.during if overlaps else way.outside).append(answered - sent)


def latency(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_s": round(statistics.median(ordered), 3),
        "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
        "max_s": round(ordered[-1], 3),
    }


async def measure(ways: list[Way], models: list[Path], swaps: int, rate: float, token: str) -> None:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    # Stock Rasa, started without a token, ignores it.
    auth = {"token": token}
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits, params=auth) as client:
        for way in ways:  # the first parses load jieba's dictionary and the e5 model
            for text in TEXTS * 2:
                response = await client.post(f"{way.url}/model/parse", json={"text": text})
                response.raise_for_status()
        for index in range(swaps):
            target = models[(index + 1) % 2]  # each server starts on models[0]
            order = ways if index % 2 == 0 else ways[::-1]
            for way in order:
                logger.info("swap %d on %s", index + 1, way.name)
                await swap_under_traffic(client, way, target, rate, around_s=2.0)


async def run(swaps: int, rate: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-swap-") as folder:
        base = Path(folder)
        token = os.urandom(24).hex()
        ways: list[Way] = []
        model: Path | None = None
        try:
            for name in WAYS:
                settings = Settings(  # type: ignore[call-arg]
                    _env_file=None,
                    var_dir=base / name,
                    rasa_port=free_port(),
                    rasa_token=token,
                )
                model = model or train(settings.rasa_toolchain)  # trained only when stale
                log = base / f"{name}.log"
                process = start_rasa(settings, model, name == "stock", log)
                ways.append(Way(name, settings.rasa_url, process))
            assert model is not None
            copy = base / f"copy-{model.name}"
            shutil.copyfile(model, copy)
            async with httpx.AsyncClient() as client:
                for way in ways:
                    await wait_ready(client, way, base / f"{way.name}.log")
            before = os.getloadavg()
            started = time.monotonic()
            await measure(ways, [model.resolve(), copy], swaps, rate, token)
            seconds = time.monotonic() - started
            after = os.getloadavg()
        finally:
            for way in ways:
                way.process.terminate()
                way.process.wait(timeout=30)
    by_name = {way.name: way for way in ways}
    report: dict[str, Any] = {
        "model": model.name,
        "swaps_each": swaps,
        "parse_rate_per_s": rate,
        "seconds": round(seconds, 1),
        "load_average_before": [round(x, 2) for x in before],
        "load_average_after": [round(x, 2) for x in after],
    }
    for way in ways:
        report[way.name] = {
            "put_s": way.put_s,
            "parses_during_put": latency(way.during),
            "parses_outside_put": latency(way.outside),
        }
    stock, ours = by_name["stock"], by_name["off_loop"]
    report["stock_over_off_loop"] = {
        key: round(latency(stock.during)[key] / max(latency(ours.during)[key], 1e-3), 1)
        for key in ("p50_s", "p95_s", "max_s")
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swaps", type=int, default=3, help="swaps per server")
    parser.add_argument("--rate", type=float, default=4.0, help="parse requests per second")
    args = parser.parse_args()
    if args.swaps < 1 or args.rate <= 0:
        parser.error("--swaps must be at least 1 and --rate positive")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines carry the token
    print(json.dumps(asyncio.run(run(args.swaps, args.rate)), indent=2))


if __name__ == "__main__":
    main()
