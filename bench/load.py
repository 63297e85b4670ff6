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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


async def rest_conversation(client: httpx.AsyncClient, sender: str, ledger: Ledger) -> None:
    ledger.sent[sender], ledger.rest_replies[sender] = [], []
    for line in SCRIPT:
        started = time.perf_counter()
        try:
            answer = await client.post("/api/messages", json={"sender": sender, "text": line})
        except httpx.HTTPError as exc:
            ledger.errors.append(f"rest: {type(exc).__name__}")
            continue
        ledger.latencies.append(time.perf_counter() - started)
        if answer.status_code != 200:
            ledger.errors.append(f"rest: {answer.status_code}")
            if answer.status_code == 503 and "not saved" not in answer.text:
                ledger.sent[sender].append(line)  # stored, not answered
                ledger.rest_replies[sender].append([])
            continue
        ledger.sent[sender].append(line)
        ledger.rest_replies[sender].append([r.get("text") or "" for r in answer.json()["replies"]])


async def socket_conversation(url: str, ledger: Ledger) -> None:
    received: list[int] = []
    try:
        client, sender = await _open_socket(url, received, None)
    except (socketio.exceptions.ConnectionError, TimeoutError) as exc:
        ledger.errors.append(f"socket connect: {type(exc).__name__}")
        return
    ledger.sent[sender], ledger.socket_ids[sender] = [], received
    for line in SCRIPT:
        started = time.perf_counter()
        try:
            ack = await client.call(
                "user_uttered", {"message": line, "session_id": sender}, timeout=60
            )
        except (socketio.exceptions.SocketIOError, TimeoutError) as exc:
            # The replica went away: reconnect as the widget does, asking for what it missed;
            # the unacknowledged message is not sent again (the ledger holds acknowledged ones).
            ledger.errors.append(f"socket: {type(exc).__name__}")
            await client.disconnect()
            try:
                client, _same = await _open_socket(url, received, sender)
            except (socketio.exceptions.ConnectionError, TimeoutError):
                ledger.errors.append("socket reconnect failed")
                return
            continue
        ledger.latencies.append(time.perf_counter() - started)
        if not ack.get("ok"):
            ledger.errors.append("socket: " + str(ack.get("error"))[:60])
        ledger.sent[sender].append(line)
    await client.disconnect()


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
    lost = duplicated = out_of_order = 0
    with engine.connect() as connection:
        for sender, sent in ledger.sent.items():
            rows = connection.execute(
                text(
                    "SELECT m.id, m.direction, m.text FROM messages m JOIN conversations c "
                    "ON c.id = m.conversation_id WHERE c.sender = :s ORDER BY m.id"
                ),
                {"s": sender},
            ).all()
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
    engine.dispose()
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
        base_url=url, headers=headers, timeout=60, limits=limits
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


async def measure(
    topology: str,
    levels: list[int],
    var_dir: Path,
    fault_level: int | None,
    p95_limit_s: float = P95_LIMIT_S,
) -> dict[str, Any]:
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
            "BOT_LOG_LEVEL": "WARNING",
        }
        platform = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--replicas",
            topology,
            env=env,
            cwd=PROJECT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{hub_port}"
        try:
            await wait_healthy(url, 900)
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
        finally:
            platform.terminate()
            await platform.wait()
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
    args = parser.parse_args()
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
    asyncio.run(main())
