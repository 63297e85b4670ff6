"""Load on the scale-out topology: C concurrent conversations over REST and socket.io, ramped
until p95 passes 1 s (``--p95-limit``), for each ``--replicas`` topology in one run (so their
ratio shares the machine's noise).

    .venv/bin/python -m bench.load [--topology hub=1,rasa=1,actions=1 --topology hub=2,...]
                                   [--levels 4,8,16,32] [--fault-level N]

For each topology it starts ``python -m bot run --replicas …`` on free ports with a private
PostgreSQL and Redis (this process starts them, so it can read the hub's messages afterwards),
warms it up (four conversations per replica, not measured: first requests load models), then
runs each level until at least 60 replies are timed: half the conversations post to
``/api/messages`` through nginx, half speak the web-chat protocol over a websocket; each
customer sends its next message once the previous one is answered (mixed small talk, an order
question, knowledge questions). The ledger is then checked against the hub's database: every
acknowledged message stored exactly once and in the order sent; every reply stored after its own
message and before the next one (REST), and delivered to the socket exactly once (socket.io).
Prints JSON: per level throughput, p50/p95/p99, errors, lost, duplicated and out-of-order; per
topology the best throughput at p95 <= 1 s; and the ratio between topologies. Synthetic load on
this machine; the figures say how busy it was.

    .venv/bin/python -m bench.load --soak 200 --minutes 10 [--fault] [--topology hub=2,...]

Soak instead of the ramp: C customers at once for M minutes on one topology (default
hub=2,rasa=2,actions=2), half REST, half socket.io, each sending its next message once the
previous one is answered and starting a new conversation when its script ends (a socket stays
open ``LINGER_S`` after its last answer, as a customer keeps the page open, for replies still on
their way). With ``--fault``, hub-1, rasa-1 and actions-1 are killed (kill -9) halfway and the
supervisor restarts them. Progress lines go to stderr every 10 s; the JSON has messages sent,
acknowledged and answered, replies, lost / duplicated / out-of-order, errors by kind, p50/p95/p99,
answers and errors per minute (and per 10 s around the kill), when each killed replica was
running and healthy again, CPU per answer by kind of process and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import socketio
from sqlalchemy import create_engine, text

from bot.app._engines import free_port, private_engines

logger = logging.getLogger("bench.load")

PROJECT = Path(__file__).resolve().parents[1]
# Distinct texts within one conversation, so that the ledger can tell every message apart.
SCRIPT = ["你好", "我的订单什么时候发货", "退货政策是什么", "hello, how long is shipping?", "谢谢"]
P95_LIMIT_S = 1.0
MIN_SAMPLES = 60  # replies timed per level, at least (12 conversations of the script)
# Longer than the hub's own bound on a turn (Rasa's 30 s timeout after a 35 s wait for the
# conversation's lock), so that the hub, not the harness, says when a message failed.
ANSWER_TIMEOUT_S = 90.0
FAULT_VICTIMS = ("hub-1", "rasa-1", "actions-1")
API_KEY = "bench-load-" + uuid.uuid4().hex


@dataclass
class Ledger:
    """What the harness sent and got, per conversation."""

    sent: dict[str, list[str]] = field(default_factory=dict)  # sender -> texts acknowledged
    rest_replies: dict[str, list[list[str]]] = field(default_factory=dict)
    socket_ids: dict[str, list[int]] = field(default_factory=dict)  # sender -> message ids
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    attempted: int = 0  # messages sent, acknowledged or not
    answered_at: list[float] = field(default_factory=list)  # perf_counter of each answer
    failed_at: list[float] = field(default_factory=list)  # perf_counter of each error
    ok_at: list[float] = field(default_factory=list)  # perf_counter of each answer without error

    def answered(self, started: float) -> None:
        now = time.perf_counter()
        self.latencies.append(now - started)
        self.answered_at.append(now)

    def failed(self, kind: str) -> None:
        self.errors.append(kind)
        self.failed_at.append(time.perf_counter())


class Lingering:
    """Sockets kept open a while after a conversation's last answer, as a customer keeps the
    page open: a reply relayed through Redis pub/sub may reach the socket after the
    acknowledgement."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._closing: set[asyncio.Task[None]] = set()

    def close_later(self, client: socketio.AsyncClient) -> None:
        task = asyncio.create_task(self._close(client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, client: socketio.AsyncClient) -> None:
        await asyncio.sleep(self._seconds)  # the customer reading, not a synchronisation
        await client.disconnect()

    async def wait(self) -> None:
        """Until every lingering socket is closed."""
        await asyncio.gather(*self._closing)


async def rest_conversation(
    client: httpx.AsyncClient, sender: str, ledger: Ledger, until: float | None = None
) -> int:
    """One scripted conversation over ``/api/messages`` (stopping at ``until``, a perf_counter
    time, if given); returns how many messages were acknowledged."""
    ledger.sent[sender], ledger.rest_replies[sender] = [], []
    for line in SCRIPT:
        if until is not None and time.perf_counter() >= until:
            break
        ledger.attempted += 1
        started = time.perf_counter()
        try:
            answer = await client.post("/api/messages", json={"sender": sender, "text": line})
        except httpx.HTTPError as exc:
            ledger.failed(f"rest: {type(exc).__name__}")
            continue
        ledger.answered(started)
        if answer.status_code != 200:
            ledger.failed(f"rest: {answer.status_code}")
            if answer.status_code == 503 and "not saved" not in answer.text:
                ledger.sent[sender].append(line)  # stored, not answered
                ledger.rest_replies[sender].append([])
            continue
        ledger.sent[sender].append(line)
        ledger.ok_at.append(time.perf_counter())
        ledger.rest_replies[sender].append([r.get("text") or "" for r in answer.json()["replies"]])
    return len(ledger.sent[sender])


async def socket_conversation(
    url: str, ledger: Ledger, until: float | None = None, lingering: Lingering | None = None
) -> int:
    """One scripted web-chat conversation over a websocket (stopping at ``until`` if given;
    the socket closed at once, or later by ``lingering``); returns how many messages were
    acknowledged."""
    received: list[int] = []
    try:
        client, sender = await _open_socket(url, received, None)
    except (socketio.exceptions.ConnectionError, TimeoutError) as exc:
        ledger.failed(f"socket connect: {type(exc).__name__}")
        return 0
    ledger.sent[sender], ledger.socket_ids[sender] = [], received
    for line in SCRIPT:
        if until is not None and time.perf_counter() >= until:
            break
        ledger.attempted += 1
        started = time.perf_counter()
        try:
            ack = await client.call(
                "user_uttered", {"message": line, "session_id": sender}, timeout=ANSWER_TIMEOUT_S
            )
        except (socketio.exceptions.SocketIOError, TimeoutError) as exc:
            # The replica went away: reconnect as the widget does, asking for what it missed;
            # the unacknowledged message is not sent again (the ledger holds acknowledged ones).
            ledger.failed(f"socket: {type(exc).__name__}")
            await client.disconnect()
            try:
                client, _same = await _open_socket(url, received, sender)
            except (socketio.exceptions.ConnectionError, TimeoutError):
                ledger.failed("socket reconnect failed")
                return len(ledger.sent[sender])
            continue
        ledger.answered(started)
        if not ack.get("ok"):
            ledger.failed("socket: " + str(ack.get("error"))[:60])
            if "not saved" in str(ack.get("error")):
                continue  # refused before it was stored (its conversation was busy)
        else:
            ledger.ok_at.append(time.perf_counter())
        ledger.sent[sender].append(line)
    if lingering is None:
        await client.disconnect()
    else:
        lingering.close_later(client)
    return len(ledger.sent[sender])


async def _open_socket(
    url: str, received: list[int], session_id: str | None
) -> tuple[socketio.AsyncClient, str]:
    """A websocket in a (new or resumed) web-chat session; replies and missed history go to
    ``received``."""
    client = socketio.AsyncClient(reconnection=False)

    async def uttered(data: Any) -> None:
        if isinstance(data, dict) and isinstance(data.get("message_id"), int):
            received.append(data["message_id"])

    async def history(data: Any) -> None:
        for item in data.get("messages", []) if isinstance(data, dict) else []:
            if item.get("direction") == "out" and item.get("message_id") not in received:
                received.append(item["message_id"])

    client.on("bot_uttered", uttered)
    client.on("history", history)
    confirmed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    client.on("session_confirm", lambda sid: confirmed.set_result(str(sid)))
    await client.connect(url, transports=["websocket"], wait_timeout=30)
    request: dict[str, Any] = {"last_message_id": max(received, default=0)}
    if session_id is not None:
        request["session_id"] = session_id
    await client.emit("session_request", request)
    return client, await asyncio.wait_for(confirmed, 30)


def check(ledger: Ledger, database: str) -> dict[str, int]:
    """Lost, duplicated and out-of-order messages and replies, from the hub's database."""
    engine = create_engine(database)
    with engine.connect() as connection:
        # One read of the whole (private) database: thousands of conversations after a soak.
        stored = connection.execute(
            text(
                "SELECT c.sender, m.id, m.direction, m.text FROM messages m JOIN conversations c "
                "ON c.id = m.conversation_id ORDER BY m.id"
            )
        ).all()
    engine.dispose()
    by_sender: dict[str, list[Any]] = defaultdict(list)
    for row in stored:
        by_sender[row.sender].append(row)
    lost = duplicated = out_of_order = 0
    for sender, sent in ledger.sent.items():
        rows = by_sender.get(sender, [])
        inbound = [r.text for r in rows if r.direction == "in"]
        lost += sum(1 for line in sent if line not in inbound)
        duplicated += len(inbound) - len(set(inbound))
        kept = [line for line in inbound if line in sent]
        out_of_order += sum(1 for a, b in zip(kept, sent, strict=False) if a != b)
        if sender in ledger.rest_replies:
            # After each acknowledged message: exactly the replies its answer carried. Turns
            # are found by text (distinct in a conversation), so a message stored but never
            # acknowledged (in flight on a killed replica) does not shift the others.
            turns: dict[str, list[str]] = {}
            current: list[str] | None = None
            for row in rows:
                if row.direction == "in":
                    current = turns.setdefault(row.text, [])
                elif current is not None:
                    current.append(row.text)
            for line, got in zip(sent, ledger.rest_replies[sender], strict=False):
                if got != turns.get(line, [])[: len(got)]:
                    out_of_order += 1
        else:
            stored_ids = [r.id for r in rows if r.direction == "out"]
            received = ledger.socket_ids.get(sender, [])
            lost += sum(1 for i in stored_ids if i not in received)
            duplicated += len(received) - len(set(received))
            out_of_order += int(received != sorted(received))
    return {"lost": lost, "duplicated": duplicated, "out_of_order": out_of_order}


async def kill_midway(ledger: Ledger, total: int, run_dir: Path, killed: list[str]) -> None:
    """kill -9 the first replica of each kind once half the level's messages are answered."""
    while len(ledger.latencies) < total // 2:  # noqa: ASYNC110 - polling our own counter
        await asyncio.sleep(0.05)
    for name in FAULT_VICTIMS:
        pid = int((run_dir / f"{name}.pid").read_text())
        os.killpg(pid, signal.SIGKILL)  # the replica and the workers it forked
        killed.append(name)


async def run_level(
    url: str,
    conversations: int,
    database: str,
    tag: str,
    fault_dir: Path | None = None,
    min_messages: int = 0,
) -> dict[str, Any]:
    ledger = Ledger()
    killed: list[str] = []
    fault = (
        asyncio.create_task(kill_midway(ledger, conversations * len(SCRIPT), fault_dir, killed))
        if fault_dir is not None
        else None
    )
    headers = {"Authorization": f"Bearer {API_KEY}"}
    limits = httpx.Limits(max_connections=conversations + 4)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=ANSWER_TIMEOUT_S, limits=limits
    ) as client:
        started = time.perf_counter()

        async def slot(n: int) -> None:
            """One customer after another on this slot until the level has enough samples
            (a p95 needs more than one conversation's five messages)."""
            turn = 0
            while turn == 0 or (len(ledger.latencies) < min_messages and fault_dir is None):
                if n % 2 == 0:
                    await rest_conversation(client, f"load-{tag}-{n}-{turn}", ledger)
                else:
                    await socket_conversation(url, ledger)
                turn += 1

        await asyncio.gather(*(slot(n) for n in range(conversations)))
        elapsed = time.perf_counter() - started
    if fault is not None:
        fault.cancel()
    await asyncio.sleep(1.0)  # replies on their way through Redis pub/sub reach the sockets
    samples = sorted(ledger.latencies)
    quantiles = statistics.quantiles(samples, n=100) if len(samples) >= 2 else [0.0] * 99
    return {
        "conversations": conversations,
        "messages": len(samples),
        "seconds": round(elapsed, 2),
        "throughput_msg_s": round(len(samples) / elapsed, 2),
        "p50_s": round(quantiles[49], 3),
        "p95_s": round(quantiles[94], 3),
        "p99_s": round(quantiles[98], 3),
        "errors": len(ledger.errors),
        "error_kinds": sorted(set(ledger.errors))[:5],
        "killed_mid_level": killed,
        **check(ledger, database),
    }


async def wait_healthy(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                health = (await client.get(f"{url}/healthz")).json()
                if health.get("status") == "ok":
                    return
            except (httpx.HTTPError, ValueError):
                pass  # nginx or the hubs are not up yet
            await asyncio.sleep(2)  # polling a process tree that has no readiness signal
    raise TimeoutError(f"the platform at {url} was not healthy within {timeout_s:.0f} s")


def _log_file(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("ab")


@contextlib.asynccontextmanager
async def running_platform(topology: str, var_dir: Path) -> AsyncIterator[tuple[str, str]]:
    """``python -m bot run --replicas topology`` on free ports with a private PostgreSQL and
    Redis, until the block ends; yields the URL of its nginx and of its database. The platform's
    log goes to ``var_dir/load-platform.log``."""
    with private_engines(var_dir / "engines") as (database, redis_url):
        hub_port = free_port()
        env = {
            **os.environ,
            "BOT_VAR_DIR": str(var_dir),
            "BOT_PORT": str(hub_port),
            "BOT_RASA_PORT": str(free_port()),
            "BOT_ACTIONS_PORT": str(free_port()),
            "BOT_DATABASE_URL": database,
            "BOT_REDIS_URL": redis_url,
            "BOT_API_KEY": API_KEY,  # the shop's server: no per-address limit
            "BOT_RATE_LIMIT_MESSAGES_PER_IP_PER_MINUTE": "100000",  # every socket is 127.0.0.1
            "BOT_LOG_LEVEL": os.environ.get("BOT_LOG_LEVEL", "WARNING"),
        }
        with _log_file(var_dir / "load-platform.log") as log:
            platform = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "bot", "run", "--replicas", topology),
                env=env,
                cwd=PROJECT,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{hub_port}"
        try:
            await wait_healthy(url, 900)
            yield url, database
        finally:
            platform.terminate()
            await platform.wait()


async def measure(
    topology: str,
    levels: list[int],
    var_dir: Path,
    fault_level: int | None,
    p95_limit_s: float = P95_LIMIT_S,
) -> dict[str, Any]:
    async with running_platform(topology, var_dir) as (url, database):
        # Not measured: each process's first requests load models and open connections;
        # enough conversations at once that every replica of each kind gets some.
        warm_up = 4 * max(int(part.split("=")[1]) for part in topology.split(","))
        logger.info("%s: warming up with %d conversations", topology, warm_up)
        await run_level(url, warm_up, database, f"warm-{uuid.uuid4().hex[:6]}")
        results = []
        for level in levels:
            logger.info("%s: %d conversations", topology, level)
            result = await run_level(
                url, level, database, f"{uuid.uuid4().hex[:6]}-{level}", None, MIN_SAMPLES
            )
            results.append(result)
            if result["p95_s"] > p95_limit_s:
                break
        if fault_level is not None:
            logger.info("%s: %d conversations, replicas killed midway", topology, fault_level)
            await wait_healthy(url, 300)
            faulted = await run_level(
                url, fault_level, database, f"fault-{uuid.uuid4().hex[:6]}", var_dir / "run"
            )
            results.append({"fault_injection": True, **faulted})
    within = [
        r["throughput_msg_s"]
        for r in results
        if r["p95_s"] <= p95_limit_s and not r.get("fault_injection")
    ]
    return {
        "topology": topology,
        "levels": results,
        "p95_limit_s": p95_limit_s,
        "best_throughput_within_p95_limit": max(within, default=0.0),
    }


# Soak: C customers for M minutes, each starting a new conversation when its script ends.
SOAK_TOPOLOGY = "hub=2,rasa=2,actions=2"
PROGRESS_EVERY_S = 10.0
LINGER_S = 10.0
BACK_WITHIN_S = 600.0  # a killed replica not healthy again by then is reported as not back
NEXT_TRY_S = 1.0  # a customer whose conversation got nothing through waits this long
HEALTH_PATHS = {"hub": "/healthz", "rasa": "/", "actions": "/health"}
UPSTREAMS = {"hub": "hubs", "rasa": "rasas", "actions": "action_servers"}


@dataclass
class Soak:
    """A running soak: its ledger, clock, and what was seen on the way."""

    ledger: Ledger
    started: float
    until: float
    conversations_started: int = 0
    cpu_at_kill: dict[str, float] = field(default_factory=dict)
    load_samples: list[tuple[float, float]] = field(default_factory=list)  # (time, 1-min load)


async def soak_customer(
    number: int, url: str, client: httpx.AsyncClient, soak: Soak, lingering: Lingering, tag: str
) -> None:
    """One customer: conversation after conversation (REST if ``number`` is even, else
    socket.io), each message sent once the previous one is answered, until the soak ends."""
    turn = 0
    while time.perf_counter() < soak.until:
        soak.conversations_started += 1
        if number % 2 == 0:
            sender = f"soak-{tag}-{number}-{turn}"
            got = await rest_conversation(client, sender, soak.ledger, soak.until)
        else:
            got = await socket_conversation(url, soak.ledger, soak.until, lingering)
        turn += 1
        if got == 0 and time.perf_counter() < soak.until:
            await asyncio.sleep(NEXT_TRY_S)  # pacing a customer who got nowhere


async def report_progress(soak: Soak) -> None:
    """A line to stderr every ``PROGRESS_EVERY_S``: answers, errors and p95 since the last."""
    ledger, seen, errors_seen = soak.ledger, 0, 0
    while True:
        await asyncio.sleep(PROGRESS_EVERY_S)  # a clock, not a synchronisation
        now = time.perf_counter()
        load = os.getloadavg()[0]
        soak.load_samples.append((now, load))
        recent = sorted(ledger.latencies[seen:])
        logger.info(
            "%5.0f s: %d sent, %d answered (%.1f/s, p95 %.2f s over the last %.0f s), "
            "%d errors (+%d), load %.1f",
            now - soak.started,
            ledger.attempted,
            len(ledger.latencies),
            len(recent) / PROGRESS_EVERY_S,
            recent[int(0.95 * (len(recent) - 1))] if recent else 0.0,
            PROGRESS_EVERY_S,
            len(ledger.errors),
            len(ledger.errors) - errors_seen,
            load,
        )
        seen, errors_seen = len(ledger.latencies), len(ledger.errors)


def replica_health_urls(nginx_conf: Path) -> dict[str, str]:
    """Each replica's health URL (``hub-1`` → …), from the nginx config the platform wrote."""
    config = nginx_conf.read_text(encoding="utf-8")
    urls: dict[str, str] = {}
    for kind, upstream in UPSTREAMS.items():
        block = re.search(rf"upstream {upstream} \{{(.*?)\}}", config, re.S)
        if block is None:
            raise ValueError(f"{nginx_conf} has no upstream {upstream}; is it the platform's?")
        ports = re.findall(r"server 127\.0\.0\.1:(\d+)", block.group(1))
        for n, port in enumerate(ports, start=1):
            urls[f"{kind}-{n}"] = f"http://127.0.0.1:{port}{HEALTH_PATHS[kind]}"
    return urls


async def kill_at(soak: Soak, at_s: float, var_dir: Path) -> dict[str, Any]:
    """kill -9 ``FAULT_VICTIMS`` ``at_s`` into the soak; then how long until the supervisor had
    each running again (a new pid) and healthy."""
    await asyncio.sleep(max(0.0, soak.started + at_s - time.perf_counter()))
    urls = replica_health_urls(var_dir / "scale" / "nginx" / "nginx.conf")
    soak.cpu_at_kill = cpu_seconds(platform_groups(var_dir))
    killed_at = time.perf_counter()
    old: dict[str, int] = {}
    for name in FAULT_VICTIMS:
        old[name] = _read_pid(var_dir / "run" / f"{name}.pid")
        if old[name] <= 0:  # killpg(0) would be this process's own group
            raise RuntimeError(f"no pid in {var_dir / 'run' / name}.pid to kill")
        os.killpg(old[name], signal.SIGKILL)  # the replica and the workers it forked
    logger.info("killed %s (kill -9) at %.0f s", ", ".join(FAULT_VICTIMS), killed_at - soak.started)
    back = await asyncio.gather(
        *(_back(var_dir / "run" / f"{n}.pid", old[n], urls[n], killed_at) for n in FAULT_VICTIMS)
    )
    return {
        "killed": list(FAULT_VICTIMS),
        "killed_at_s": round(killed_at - soak.started, 1),
        "back": dict(zip(FAULT_VICTIMS, back, strict=True)),
    }


async def _back(pid_file: Path, old_pid: int, health_url: str, since: float) -> dict[str, Any]:
    restarted: float | None = None
    async with httpx.AsyncClient(timeout=2) as client:
        while time.perf_counter() < since + BACK_WITHIN_S:
            # Polling: the supervisor runs in another process and signals nothing to us.
            await asyncio.sleep(0.5)
            if restarted is None and _read_pid(pid_file) != old_pid:
                restarted = time.perf_counter()
            if restarted is not None:
                try:
                    if (await client.get(health_url)).status_code == 200:
                        return {
                            "new_pid_after_s": round(restarted - since, 1),
                            "healthy_after_s": round(time.perf_counter() - since, 1),
                        }
                except httpx.HTTPError:
                    pass  # still starting
    return {
        "new_pid_after_s": None if restarted is None else round(restarted - since, 1),
        "healthy_after_s": None,  # not within BACK_WITHIN_S
    }


def cpu_seconds(groups: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system) of every process in each named process group, and of the whole
    machine (``machine``, all cores; from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    by_group = {pgid: 0 for pgid in groups.values()}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        pgid = int(fields[2])
        if pgid in by_group:
            by_group[pgid] += int(fields[11]) + int(fields[12])
    machine = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(v) for v in machine) - int(machine[3]) - int(machine[4])  # minus idle, iowait
    seconds = {name: by_group[pgid] / tick for name, pgid in groups.items()}
    return {**seconds, "machine": busy / tick}


def platform_groups(var_dir: Path) -> dict[str, int]:
    """The process group of every supervised replica (its pid file's pid leads it)."""
    return {p.stem: _read_pid(p) for p in sorted((var_dir / "run").glob("*.pid"))}


def cpu_report(
    before: dict[str, float], after: dict[str, float], answered: int, elapsed: float
) -> dict[str, Any]:
    """CPU used over the soak by kind of replica (a killed replica until its kill, then its
    successor),
    per answered message, and the machine's busy share (other jobs included)."""
    used: dict[str, float] = defaultdict(float)
    for name, seconds in after.items():
        used[name.split("-")[0]] += max(0.0, seconds - before.get(name, 0.0))
    per_message = {kind: round(seconds / max(answered, 1) * 1000) for kind, seconds in used.items()}
    return {
        "cpu_ms_per_answer": per_message,
        "machine_busy_cores": round(used["machine"] / elapsed, 2),
        "cores": os.cpu_count(),
    }


def _read_pid(pid_file: Path) -> int:
    """The pid in a supervisor's pid file; 0 while it is being rewritten."""
    written = pid_file.read_text().strip()
    return int(written) if written else 0


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100) if len(ordered) >= 2 else [0.0] * 99
    return {"p50_s": round(q[49], 3), "p95_s": round(q[94], 3), "p99_s": round(q[98], 3)}


def per_window(soak: Soak, first_s: float, last_s: float, width_s: float) -> list[dict[str, Any]]:
    """Answers (all, and those without an error), errors, p95 and the 1-minute load average in
    windows of ``width_s``."""
    ledger, windows = soak.ledger, []
    start = first_s
    while start < last_s:
        lo, hi = soak.started + start, soak.started + start + width_s
        latencies = [
            lat
            for at, lat in zip(ledger.answered_at, ledger.latencies, strict=True)
            if lo <= at < hi
        ]
        loads = [load for at, load in soak.load_samples if lo <= at < hi]
        windows.append(
            {
                "from_s": round(start),
                "answered": len(latencies),
                "answered_ok": sum(1 for at in ledger.ok_at if lo <= at < hi),
                "errors": sum(1 for at in ledger.failed_at if lo <= at < hi),
                "p95_s": _quantiles(latencies)["p95_s"],
                "load_average_1m": round(max(loads), 1) if loads else None,
            }
        )
        start += width_s
    return windows


async def run_soak(
    url: str, database: str, conversations: int, minutes: float, var_dir: Path, fault: bool
) -> dict[str, Any]:
    groups = platform_groups(var_dir)
    cpu_before = cpu_seconds(groups)
    started = time.perf_counter()
    soak = Soak(Ledger(), started, started + minutes * 60)
    lingering = Lingering(LINGER_S)
    tag = uuid.uuid4().hex[:6]
    progress = asyncio.create_task(report_progress(soak))
    faulting = asyncio.create_task(kill_at(soak, minutes * 30, var_dir)) if fault else None
    headers = {"Authorization": f"Bearer {API_KEY}"}
    limits = httpx.Limits(max_connections=conversations + 4)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=ANSWER_TIMEOUT_S, limits=limits
    ) as client:
        await asyncio.gather(
            *(soak_customer(n, url, client, soak, lingering, tag) for n in range(conversations))
        )
    elapsed = time.perf_counter() - started
    # Restarted replicas lead new groups: count both the old (until killed) and the new ones.
    cpu_after = cpu_seconds(
        {
            **groups,
            **{f"{n}-new": p for n, p in platform_groups(var_dir).items() if p != groups.get(n)},
        }
    )
    cpu_after.update({n: soak.cpu_at_kill[n] for n in FAULT_VICTIMS if n in soak.cpu_at_kill})
    await lingering.wait()
    progress.cancel()
    fault_report = await faulting if faulting is not None else None
    ledger = soak.ledger
    replies = sum(len(r) for turns in ledger.rest_replies.values() for r in turns)
    replies += sum(len(set(ids)) for ids in ledger.socket_ids.values())
    report: dict[str, Any] = {
        "conversations_at_once": conversations,
        "minutes": minutes,
        "seconds": round(elapsed, 1),
        "conversations_started": soak.conversations_started,
        "messages_sent": ledger.attempted,
        "acknowledged": sum(len(sent) for sent in ledger.sent.values()),
        "answered": len(ledger.latencies),  # with or without an error
        "answered_ok": len(ledger.ok_at),
        "replies": replies,
        **check(ledger, database),
        "errors": len(ledger.errors),
        "errors_by_kind": dict(Counter(ledger.errors).most_common()),
        **_quantiles(ledger.latencies),
        "throughput_msg_s": round(len(ledger.latencies) / elapsed, 2),
        "per_minute": per_window(soak, 0, elapsed, 60),
        "load_average_max_1m": max((load for _, load in soak.load_samples), default=None),
        **cpu_report(cpu_before, cpu_after, len(ledger.latencies), elapsed),
    }
    if fault_report is not None:
        at = fault_report["killed_at_s"]
        report["fault"] = {
            **fault_report,
            "around_kill_10s": per_window(soak, at - 30, at + 120, 10),
        }
    return report


async def soak_main(args: argparse.Namespace) -> None:
    topologies = args.topology or [SOAK_TOPOLOGY]
    if len(topologies) != 1:
        raise SystemExit("--soak runs one topology; give --topology once (or leave it out)")
    if args.minutes <= 0 or args.soak < 1:
        raise SystemExit("--soak needs at least 1 conversation and --minutes above 0")
    replicated = all(int(part.split("=")[1]) >= 2 for part in topologies[0].split(","))
    if args.fault and not replicated:
        raise SystemExit("--fault kills one replica of each kind: give 2 or more of each")
    shutil.rmtree(args.var_dir / "engines", ignore_errors=True)
    report: dict[str, Any] = {"topology": topologies[0], "load_average_before": os.getloadavg()}
    async with running_platform(topologies[0], args.var_dir) as (url, database):
        logger.info(
            "%s: %d conversations for %g minutes%s",
            topologies[0],
            args.soak,
            args.minutes,
            ", hub-1, rasa-1 and actions-1 killed midway" if args.fault else "",
        )
        report.update(
            await run_soak(url, database, args.soak, args.minutes, args.var_dir, args.fault)
        )
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, ensure_ascii=False, indent=2))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--topology", action="append")
    parser.add_argument("--levels", default="1,2,4,8,16,32,64")
    parser.add_argument("--var-dir", type=Path, default=PROJECT / "var" / "bench-load")
    parser.add_argument(
        "--fault-level",
        type=int,
        help="after the ramp of a topology with 2+ replicas of each kind: this many "
        "conversations while hub-1, rasa-1 and actions-1 are killed (kill -9) midway",
    )
    parser.add_argument(
        "--p95-limit",
        type=float,
        default=P95_LIMIT_S,
        help="the ramp stops at the first level whose p95 passes this many seconds",
    )
    parser.add_argument(
        "--soak",
        type=int,
        metavar="C",
        help=f"instead of the ramp: C conversations at once for --minutes on one topology "
        f"(default {SOAK_TOPOLOGY}), each customer starting a new one when its script ends",
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long --soak runs")
    parser.add_argument(
        "--fault",
        action="store_true",
        help="with --soak: kill -9 hub-1, rasa-1 and actions-1 halfway (the supervisor "
        "restarts them)",
    )
    args = parser.parse_args()
    if args.soak is not None:
        await soak_main(args)
        return
    if args.fault:
        parser.error("--fault goes with --soak; the ramp's fault run is --fault-level")
    topologies = args.topology or ["hub=1,rasa=1,actions=1", "hub=2,rasa=2,actions=2"]
    levels = [int(n) for n in args.levels.split(",")]
    report: dict[str, Any] = {"load_average_before": os.getloadavg(), "runs": []}
    for topology in topologies:
        # One var folder for both: the knowledge base is ingested once; the engines start fresh.
        shutil.rmtree(args.var_dir / "engines", ignore_errors=True)
        replicated = all(int(part.split("=")[1]) >= 2 for part in topology.split(","))
        fault = args.fault_level if replicated else None
        report["runs"].append(await measure(topology, levels, args.var_dir, fault, args.p95_limit))
    best = [r["best_throughput_within_p95_limit"] for r in report["runs"]]
    if len(best) == 2 and best[0]:
        report["ratio"] = round(best[1] / best[0], 2)
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request drowns progress
    asyncio.run(main())
