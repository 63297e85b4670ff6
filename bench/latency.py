"""Latency of a conversation turn through the hub (``/api/messages``) and directly against Rasa.

Both paths run the same scripted conversations in one run, interleaved, so that the hub's
overhead is a ratio that the machine's noise and Rasa's growing trackers affect alike.

    .venv/bin/python -m bench.latency [--conversations 40] [--concurrency 8]
    .venv/bin/python -m bench.latency --compare /path/to/older/checkout
    .venv/bin/python -m bench.latency --rate-limits

Starts a private platform on free ports unless ``--hub-url`` and ``--rasa-url`` are given.
``--compare`` starts a second one from another checkout of the project (an older commit, with
the same ``.venv`` and ``.venv-rasa``) and runs both platforms' hubs and Rasas interleaved in one
run, so that "this change made the hub slower" is a ratio measured under the same load.
``--rate-limits`` starts a second hub process with the rate limits off beside the platform's own
(limits on, counting every message against quotas too high to refuse: the per-address quota of
tests/launch.py, the default per-customer one, which a 6-turn conversation stays under), both in
front of the same Rasa and action server, and times the two hubs and Rasa interleaved: what the
limits add to the hub's latency, as a ratio. Prints JSON (with the load average before and
after).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import secrets
import statistics
import subprocess
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
LIMITS_ON_OVER_OFF: list[Ratio] = [
    ("limits_on_over_off", "hub", "hub_limits_off"),
    ("hub_over_rasa", "hub", "rasa"),
    ("hub_limits_off_over_rasa", "hub_limits_off", "rasa"),
]


def taking_turns(names: list[str], round_: int) -> list[str]:
    """``names`` rotated by ``round_``: each goes first in turn, and none always follows another
    (a target run right after Rasa's heaviest turn would pay for it every round)."""
    shift = round_ % len(names)
    return names[shift:] + names[:shift]


def p50_ratio_interval(top: list[float], bottom: list[float], rounds: int = 1000) -> list[float]:
    """A 95% bootstrap interval of ``median(top) / median(bottom)``: how far the samples' own
    spread moves the ratio, so that a difference inside it is not read as a change."""
    chance = random.Random(0)
    ratios = sorted(
        statistics.median(chance.choices(top, k=len(top)))
        / statistics.median(chance.choices(bottom, k=len(bottom)))
        for _ in range(rounds)
    )
    return [round(ratios[int(rounds * 0.025)], 3), round(ratios[int(rounds * 0.975) - 1], 3)]


def paired_ratio(top: list[float], bottom: list[float], rounds: int = 1000) -> dict[str, Any]:
    """The median of turn-by-turn ratios (the same turn of the same conversation on both
    targets, a few seconds apart) with its 95% bootstrap interval: the turns' different costs
    cancel out, which they do not in a ratio of medians."""
    ratios = [a / b for a, b in zip(top, bottom, strict=True)]
    chance = random.Random(0)
    medians = sorted(
        statistics.median(chance.choices(ratios, k=len(ratios))) for _ in range(rounds)
    )
    return {
        "median": round(statistics.median(ratios), 3),
        "95ci": [
            round(medians[int(rounds * 0.025)], 3),
            round(medians[int(rounds * 0.975) - 1], 3),
        ],
    }


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
    names = list(targets)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as client:
        for send in targets.values():  # warm up every path
            await conversation(client, send, [])
        for i in range(conversations):  # sequential, interleaved conversation by conversation
            for name in taking_turns(names, i):
                started = time.perf_counter()
                await conversation(client, targets[name], samples[name]["sequential"])
                elapsed[name]["sequential"] += time.perf_counter() - started
        # Concurrent: rounds of C conversations at once, the targets taking turns round by round,
        # so that a change in the machine's load over the run weighs on each alike.
        for i, first in enumerate(range(0, conversations, concurrency)):
            at_once = min(concurrency, conversations - first)
            for name in taking_turns(names, i):
                out = samples[name]["concurrent"]
                started = time.perf_counter()
                await asyncio.gather(
                    *(conversation(client, targets[name], out) for _ in range(at_once))
                )
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
                "p50_ratio_95ci": p50_ratio_interval(samples[top][mode], samples[bottom][mode]),
                "p95_ratio": round(a["p95_ms"] / b["p95_ms"], 3),
                "throughput_ratio": round(a["turns_per_s"] / b["turns_per_s"], 3),
            }
        # Only the sequential turns pair up: concurrent ones finish in any order.
        result[label]["sequential"]["turn_by_turn_ratio"] = paired_ratio(
            samples[top]["sequential"], samples[bottom]["sequential"]
        )
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


class SecondHub(PlatformProcess):
    """One more hub process in front of ``platform``'s Rasa and action server, on its var folder
    (so the action server sees this hub's conversations too) and with its settings but
    ``extra_env``: the command the supervisor starts the hub with (bot/app/_supervisor.py)."""

    def __init__(self, platform: PlatformProcess, extra_env: dict[str, str]) -> None:
        super().__init__(platform.var_dir, project_root=platform.project_root)
        self.rasa_port, self.actions_port = platform.rasa_port, platform.actions_port
        self.env = {
            **platform.env,
            **extra_env,
            "BOT_PORT": str(self.port),
            "PYTHONPATH": str(self.project_root),
        }
        self.log_path = platform.var_dir / f"hub-{self.port}.log"

    def start(self, timeout_s: float = 240.0, training_timeout_s: float = 0.0) -> None:
        """Start the hub (the platform has trained the model) and wait until it is healthy."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "bot.app:create_asgi",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--no-access-log",
                    "--log-level",
                    "info",
                ],
                cwd=self.project_root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self.wait_healthy(timeout_s)
        except BaseException:
            self.stop()
            raise


def with_and_without_limits(
    run: Callable[[dict[str, Send], list[Ratio]], dict[str, Any]],
) -> dict[str, Any]:
    """The platform's hub with the rate limits on and a second hub with them off, sharing its
    Rasa and action server, timed together with Rasa itself."""
    with tempfile.TemporaryDirectory(prefix="bench-latency-limits-") as var:
        logger.info("Starting a private platform, then a second hub with the rate limits off")
        # Both hubs use Rasa's token-protected API (pause, resume): one token, known to both.
        token = {"BOT_RASA_TOKEN": secrets.token_hex(24)}
        with (
            PlatformProcess(
                Path(var), extra_env={**token, "BOT_RATE_LIMITS_ENABLED": "true"}
            ) as on,
            SecondHub(on, {"BOT_RATE_LIMITS_ENABLED": "false"}) as off,
        ):
            targets = {
                "hub": hub_sender(on.hub_url),
                "hub_limits_off": hub_sender(off.hub_url),
                "rasa": rasa_sender(on.rasa_url),
            }
            result = run(targets, LIMITS_ON_OVER_OFF)
    result["rate_limits"] = {"hub": "on", "hub_limits_off": "off"}
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
    parser.add_argument(
        "--rate-limits",
        action="store_true",
        help="time the platform's hub (rate limits on) against a second hub with them off",
    )
    args = parser.parse_args(argv)
    if args.rate_limits and (args.compare or args.hub_url or args.rasa_url):
        parser.error("--rate-limits starts its own platform: give it without --compare or URLs")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    load_before = os.getloadavg()

    def run(targets: dict[str, Send], ratios: list[Ratio] = HUB_OVER_RASA) -> dict[str, Any]:
        return asyncio.run(measure(targets, args.conversations, args.concurrency, ratios))

    if args.hub_url and args.rasa_url:
        result = run({"hub": hub_sender(args.hub_url), "rasa": rasa_sender(args.rasa_url)})
    elif args.compare:
        result = compare(args.compare.resolve(), run)
    elif args.rate_limits:
        result = with_and_without_limits(run)
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
