"""Costs of the security and privacy checks: console login while one address floods it with
guesses, redaction of log lines, and the grounding check of generated answers.

    .venv/bin/python -m bench.security [--guess-rate 500] [--seconds 5]
    .venv/bin/python -m bench.security --http [--guess-rate 500] [--seconds 10]

Without ``--http`` the login part calls ``AgentDirectory.log_in`` in process on a temporary
SQLite database (the directory level: no HTTP, no event loop shared with a server). With
``--http`` it floods ``POST /console/api/login`` of the real hub over HTTP while an agent logs
in from another address (bench/security_http.py says how). Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.security_http import login_under_guessing_http, paced
from bot.handoff import AgentDirectory, InvalidCredentials, LoginThrottle, LoginThrottled
from bot.privacy import redact
from bot.storage import Database

PASSWORD = "a real agent's passphrase"
LINES = [
    "customer 13812345678 asked about order YX2611010001",
    "用户留言：我的邮箱是 zhang.san@example.com，地址广东省深圳市南山区科技园路100号3栋401室",
    "refund of ¥1,299.00 to card 4111 1111 1111 1111 requested",
    "身份证11010519491231002X的用户要求导出数据",
    "conversation web:7f3a moved to human mode after 3 turns",
    "Handoff 42 assigned to agent 7 (skill orders, language zh)",
]


def quantiles(samples: list[float]) -> dict[str, float]:
    if len(samples) < 2:
        return {"p50": round(samples[0], 2) if samples else 0.0, "p95": 0.0}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": round(cuts[49], 2), "p95": round(cuts[94], 2)}


async def login_under_guessing(rate: float, seconds: float) -> dict[str, Any]:
    """One address guesses ``rate`` times a second; a real agent logs in every 200 ms."""
    with tempfile.TemporaryDirectory(prefix="bench-security-") as tmp:
        database = Database(f"sqlite:///{Path(tmp) / 'hub.db'}")
        await database.migrate()
        throttle = LoginThrottle("memory://", max_failures=5, window=timedelta(minutes=15))
        agents = AgentDirectory(database, timedelta(hours=8), throttle)
        await agents.create("victim", PASSWORD)
        await agents.create("real", PASSWORD)
        outcomes: dict[int, str] = {}
        latencies: list[float] = []
        refused_real = 0

        async def guess(i: int) -> None:
            try:
                await agents.log_in("victim", f"guess-{i:06d}", client_key="203.0.113.9")
            except InvalidCredentials:
                outcomes[i] = "checked"
            except LoginThrottled:
                outcomes[i] = "refused"

        async def guesser() -> None:
            await paced(guess, rate, seconds, time.perf_counter())

        async def real_agent() -> None:
            nonlocal refused_real
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                started = time.perf_counter()
                try:
                    await agents.log_in("real", PASSWORD, client_key="198.51.100.1")
                except LoginThrottled:
                    refused_real += 1
                latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.2)

        started = time.perf_counter()
        await asyncio.gather(guesser(), real_agent())
        elapsed = time.perf_counter() - started
        database.dispose()
    refused = [i for i, outcome in outcomes.items() if outcome == "refused"]
    checked = [i for i, outcome in outcomes.items() if outcome == "checked"]
    return {
        "guess_rate_per_s": rate,
        "guesses": len(outcomes),
        "guesses_password_checked": len(checked),
        "guesser_refused_from_try": min(refused) + 1 if refused else None,
        "real_agent_logins": len(latencies),
        "real_agent_refused": refused_real,
        "real_agent_login_ms": quantiles(latencies),
        "seconds": round(elapsed, 2),
    }


def redaction_cost(repeat: int = 500) -> dict[str, Any]:
    """Microseconds to redact a log line, over a mix of lines with and without personal data."""
    timings = []
    for _ in range(repeat):
        for line in LINES:
            started = time.perf_counter()
            redact(line)
            timings.append((time.perf_counter() - started) * 1e6)
    return {"lines": len(timings), "us_per_line": quantiles(timings)}


def grounding_cost() -> dict[str, Any]:
    """Milliseconds per grounding check of the shipped test pairs (e5 embeddings included)."""
    from knowledge import E5Embedder
    from knowledge._generation import Passage, check_grounding

    embedder = E5Embedder()
    path = Path(__file__).resolve().parent.parent / "knowledge" / "eval" / "grounding_test.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    check_grounding(rows[0]["answer"], "", rows[0]["language"], [Passage(1, "", "x")], embedder)
    timings = []
    for row in rows:
        started = time.perf_counter()
        check_grounding(
            row["answer"], "", row["language"], [Passage(1, "", row["passage"])], embedder
        )
        timings.append((time.perf_counter() - started) * 1000)
    return {"pairs": len(rows), "ms_per_check": quantiles(timings)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--guess-rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=5.0, help="of the flood")
    parser.add_argument(
        "--http", action="store_true", help="flood the real hub's login route over HTTP"
    )
    parser.add_argument(
        "--quiet-seconds", type=float, default=3.0, help="--http: the agent alone, first"
    )
    parser.add_argument(
        "--connections", type=int, default=64, help="--http: the guesser's open connections"
    )
    args = parser.parse_args(argv)
    login = (
        login_under_guessing_http(
            args.guess_rate, args.seconds, args.quiet_seconds, args.connections
        )
        if args.http
        else login_under_guessing(args.guess_rate, args.seconds)
    )
    report = {
        "login_http" if args.http else "login": asyncio.run(login),
        "redaction": redaction_cost(),
        "grounding": grounding_cost(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
