"""What the rate limits add to a message: the limiter's own cost per message, and the hub's
``POST /api/messages`` latency with limits on and off, interleaved in one run so that the
machine's noise affects both alike.

    .venv/bin/python -m bench.ratelimit [--requests 400] [--calls 20000]

Two in-process hubs on free ports (uvicorn, real SQLite; limits on in one, off in the other, both
counting in ``memory://``) with Rasa down: each message is stored and answered 503 without a
model's time, so the ratio is an upper bound of the overhead on a real turn. Limits are set high
enough that nothing is refused: the cost measured is counting, not refusing. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from channels.connector import MINUTE, Quota, RateLimiter, RateLimits
from tests.live_hub import hub_settings, serving

HIGH = 10**9


def quantiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": round(cuts[49], 3), "p95": round(cuts[94], 3)}


async def limiter_cost(calls: int) -> dict[str, Any]:
    """Microseconds of one ``RateLimiter.message`` (two counters) in memory storage."""
    quota = Quota(HIGH, MINUTE, "messages")
    limiter = RateLimiter(RateLimits(messages_per_sender=quota, messages_per_address=quota))
    senders = [uuid.uuid4().hex for _ in range(200)]
    start = time.perf_counter()
    for i in range(calls):
        await limiter.message("10.0.0.1", senders[i % len(senders)])
    per_call_us = (time.perf_counter() - start) / calls * 1e6
    return {"calls": calls, "us_per_message": round(per_call_us, 1)}


async def hub_latency(requests: int, turn_p50_ms: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-ratelimit-") as tmp:
        common = {
            "rate_limit_messages_per_minute": HIGH,
            "rate_limit_messages_per_ip_per_minute": HIGH,
            "log_level": "ERROR",  # every message logs "Rasa cannot be reached" otherwise
        }
        on = hub_settings(Path(tmp) / "on", rate_limits_enabled=True, **common)
        off = hub_settings(Path(tmp) / "off", rate_limits_enabled=False, **common)
        samples: dict[str, list[float]] = {"on": [], "off": []}
        async with serving(on) as hub_on, serving(off) as hub_off, httpx.AsyncClient() as client:
            urls = {"on": hub_on.url, "off": hub_off.url}
            for warm in range(20):  # connections, first-use imports, SQLite caches
                for url in urls.values():
                    await client.post(
                        f"{url}/api/messages", json={"sender": f"warm{warm}", "text": "hi"}
                    )
            for i in range(requests):
                order = ("on", "off") if i % 2 == 0 else ("off", "on")
                for name in order:
                    start = time.perf_counter()
                    response = await client.post(
                        f"{urls[name]}/api/messages",
                        json={"sender": f"s{i % 50}", "text": "where is my order?"},
                    )
                    samples[name].append((time.perf_counter() - start) * 1000)
                    if response.status_code != 503:  # stored, Rasa down: never refused
                        raise RuntimeError(f"unexpected status {response.status_code}")
        result = {name: quantiles(values) for name, values in samples.items()}
        ratio = result["on"]["p50"] / result["off"]["p50"]
        added = result["on"]["p50"] - result["off"]["p50"]
        return {
            "requests_each": requests,
            "ms": result,
            "p50_ratio_on_off": round(ratio, 3),
            "added_ms_p50": round(added, 3),
            # What that adds to a real turn (bench/latency.py's hub p50, with Rasa answering).
            "turn_p50_ms": turn_p50_ms,
            "added_share_of_turn": round(added / turn_p50_ms, 4),
        }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument(
        "--turn-p50-ms",
        type=float,
        default=36.0,
        help="the hub's p50 per turn from bench/latency.py (README: 36 ms)",
    )
    args = parser.parse_args()
    report = {
        "limiter": await limiter_cost(args.calls),
        "hub_rest_messages_rasa_down": await hub_latency(args.requests, args.turn_p50_ms),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
