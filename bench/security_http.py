"""Console login over HTTP while one address floods it with wrong passwords: the real hub, a
guesser posting ``/console/api/login`` at a set rate, and a real agent logging in at a steady
pace from another address (``bench.security --http`` runs it).

The hub runs in this process (uvicorn on a free port, real SQLite, the settings' login throttle);
the guesser and the agent each run in a process of their own, so that neither client's CPU is
counted in the hub's latency nor the hub's in theirs (2 cores: the hub on one, the flood on the
other). The agent logs in alone for a quiet spell first, then through the flood. The guesser
tries another account than the agent's: the throttle counts failures per username as well as per
address, so guessing the agent's own name would lock the agent out too, by design.

Client addresses: every request comes over loopback, and the hub tells clients apart by the
``X-Forwarded-For`` header of a trusted proxy, as behind the nginx that ``run --replicas`` and
deploy/ put in front of it: uvicorn applies it to the request's client address (what
``client_address`` and the login throttle read) when the connection comes from a trusted proxy,
and it trusts loopback by default (``forwarded_allow_ips``: ``127.0.0.1,::1``; the hub's serve
command does not change it). So the guesser sends ``X-Forwarded-For: 203.0.113.9`` and the agent
``198.51.100.1``, rather than binding 127.0.0.2…: that is the path a deployed hub's clients take.
Were the header ignored, both would share 127.0.0.1 and the agent would be locked out with the
guesser; ``real_agent.*.refused`` shows it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp

from tests.live_hub import hub_settings, serving

LOGIN_PATH = "/console/api/login"
PASSWORD = "a real agent's passphrase"
GUESSER_ADDRESS = "203.0.113.9"  # documentation addresses (RFC 5737)
AGENT_ADDRESS = "198.51.100.1"
AGENT_INTERVAL_S = 0.2
REQUEST_TIMEOUT_S = 60.0


async def paced(
    attempt: Callable[[int], Coroutine[Any, Any, None]], rate: float, seconds: float, started: float
) -> int:
    """Start ``attempt(i)`` ``rate`` times a second for ``seconds`` from ``started`` (a
    ``time.perf_counter`` reading), each in its own task, and wait for them all; how many."""
    tasks = []
    for i in range(int(rate * seconds)):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the flood, not synchronisation
        tasks.append(asyncio.create_task(attempt(i)))
    await asyncio.gather(*tasks)
    return len(tasks)


def quantiles(samples: list[float]) -> dict[str, float]:
    if len(samples) < 2:
        return {"p50": round(samples[0], 2) if samples else 0.0, "p95": 0.0}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": round(cuts[49], 2), "p95": round(cuts[94], 2)}


def _session(limit: int) -> aiohttp.ClientSession:
    # No cookie jar: each login stands alone, as a fresh browser's would.
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit),
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def flood(
    url: str, rate: float, seconds: float, start_at: float, connections: int
) -> dict[str, Any]:
    """Wrong passwords for one account from ``GUESSER_ADDRESS``, ``rate`` a second on a fixed
    schedule (open loop: a slow answer does not slow the flood) over at most ``connections``
    connections; what each try got. Runs in a process of its own."""
    return asyncio.run(_flood(url, rate, seconds, start_at, connections))


async def _flood(
    url: str, rate: float, seconds: float, start_at: float, connections: int
) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    answered_in_window = 0
    errors = 0
    lockout_detail: str | None = None
    # aiohttp rather than httpx: the flood needs the cheaper client to reach its rate on the
    # one core it has.
    async with _session(connections) as session:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        started = time.perf_counter()
        cpu_started = time.process_time()

        async def guess(i: int) -> None:
            nonlocal answered_in_window, errors, lockout_detail
            sent = time.perf_counter()
            try:
                async with session.post(
                    url + LOGIN_PATH,
                    json={"username": "victim", "password": f"guess-{i:06d}"},
                    headers={"X-Forwarded-For": GUESSER_ADDRESS},
                ) as response:
                    body = await response.json(content_type=None)
                    statuses[i] = response.status
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
                return
            answered = time.perf_counter()
            latencies.append((answered - sent) * 1000)
            answered_in_window += answered - started <= seconds
            if response.status == 429 and lockout_detail is None:
                lockout_detail = str(body.get("detail"))

        guesses = await paced(guess, rate, seconds, started)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    refused = sorted(i for i, status in statuses.items() if status == 429)
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[str(status)] = counts.get(str(status), 0) + 1
    return {
        "guess_rate_target_per_s": rate,
        "guesses_sent": guesses,
        "guesses_answered_per_s": round(answered_in_window / seconds, 1),
        "statuses": dict(sorted(counts.items())),
        "connection_errors": errors,
        "password_checks": counts.get("401", 0),
        "locked_out_at_try": refused[0] + 1 if refused else None,
        "lockout_detail": lockout_detail,
        "guess_ms": quantiles(latencies),
        "connections": connections,
        "seconds_until_last_answer": round(elapsed, 2),
        "guesser_cpu_share": round(cpu / elapsed, 2),
    }


def agent_logins(url: str, start_at: float, seconds: float) -> list[tuple[float, float, int]]:
    """The real agent's right password from ``AGENT_ADDRESS`` every ``AGENT_INTERVAL_S`` for
    ``seconds``: (seconds since ``start_at``, milliseconds, status) of each login."""
    return asyncio.run(_agent_logins(url, start_at, seconds))


async def _agent_logins(
    url: str, start_at: float, seconds: float
) -> list[tuple[float, float, int]]:
    logins: list[tuple[float, float, int]] = []
    async with _session(1) as session:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        started = time.perf_counter()
        for k in range(int(seconds / AGENT_INTERVAL_S)):
            delay = started + k * AGENT_INTERVAL_S - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # a steady pace, not synchronisation
            sent = time.perf_counter()
            try:
                async with session.post(
                    url + LOGIN_PATH,
                    json={"username": "real", "password": PASSWORD},
                    headers={"X-Forwarded-For": AGENT_ADDRESS},
                ) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            logins.append((sent - started, (time.perf_counter() - sent) * 1000, status))
    return logins


def agent_summary(logins: list[tuple[float, float, int]]) -> dict[str, Any]:
    ok = [ms for _, ms, status in logins if status == 200]
    return {
        "logins": len(logins),
        "succeeded": len(ok),
        "success_rate": round(len(ok) / len(logins), 3) if logins else None,
        "refused": sum(status == 429 for _, _, status in logins),
        "login_ms": quantiles([ms for _, ms, _ in logins]),
    }


async def cpu_time_at(moment: float) -> float:
    """This process's CPU seconds at wall-clock ``moment``."""
    await asyncio.sleep(max(0.0, moment - time.time()))
    return time.process_time()


async def login_under_guessing_http(
    rate: float, seconds: float, quiet_seconds: float = 3.0, connections: int = 64
) -> dict[str, Any]:
    """The flood for ``seconds`` after ``quiet_seconds`` of the agent alone; the JSON report."""
    load_before = os.getloadavg()
    # Forked before the hub starts (no threads to copy yet, and no second import of everything,
    # which would cost a spawned process seconds of CPU on 2 cores); the pool starts both
    # workers at its first call.
    fork = multiprocessing.get_context("fork")
    with (
        tempfile.TemporaryDirectory(prefix="bench-security-http-") as tmp,
        ProcessPoolExecutor(max_workers=2, mp_context=fork) as clients,
    ):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(clients, os.getpid)
        async with serving(hub_settings(Path(tmp), log_level="WARNING")) as hub:
            for name in ("victim", "real"):
                await hub.services.agents.create(name, PASSWORD)
            start_at = time.time() + 0.5
            flood_at = start_at + quiet_seconds
            guesses, logins, flood_cpu = await asyncio.gather(
                loop.run_in_executor(clients, flood, hub.url, rate, seconds, flood_at, connections),
                loop.run_in_executor(
                    clients, agent_logins, hub.url, start_at, quiet_seconds + seconds
                ),
                cpu_time_at(flood_at),
            )
            hub_cpu_share = (time.process_time() - flood_cpu) / (time.time() - flood_at)
    return {
        "how": "HTTP to the real hub (uvicorn, SQLite) in this process; guesser and agent in "
        "a process each; addresses by X-Forwarded-For from trusted loopback",
        "guesser": guesses,
        "real_agent": {
            "quiet": agent_summary([row for row in logins if row[0] < quiet_seconds]),
            "under_flood": agent_summary([row for row in logins if row[0] >= quiet_seconds]),
        },
        # Seconds of CPU the hub's process used per second of the flood (its threads included,
        # argon2's): near 1 or more, the hub is what limits the rate.
        "hub_cpu_share_under_flood": round(hub_cpu_share, 2),
        "load_average_1_5_15": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
    }
