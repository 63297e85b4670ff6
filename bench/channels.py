"""The WeChat channel under load: acknowledgement latency, reply delivery, duplicates and lost
replies, through the real hub (uvicorn, real SQLite) with a local server standing in for
WeChat's API and for Rasa (an echo: the figures are the hub's channel machinery, not NLU).

    .venv/bin/python -m bench.channels [--customers 50] [--messages 4] [--in-process]

The hub runs as the platform runs it (uvicorn in a process of its own); the customers and the
stand-in run in the benchmark's process, as WeChat's servers run elsewhere. ``--in-process``
serves the hub from a thread of the benchmark's process instead (the earlier method: the
customers' encryption and the stand-in then compete with the hub for one interpreter lock).

Four runs, each on a fresh hub: (1) every customer sends its messages one after another as
soon as each is acknowledged, all customers at once (a burst: 200 messages in about a second
with the defaults); (2) 50 customers in conversation at once: each waits for the bot's reply
to a message before sending the next; (3) the burst, every webhook delivered three times; (4)
the stand-in's send API fails 30 % of calls at random, the outbox retries with its default
policy. Every
message is encrypted and signed in safe mode with wechatpy's crypto. Synthetic traffic.
Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import uvicorn
from wechatpy.crypto import WeChatCrypto

from bot.app import PROJECT_ROOT, Settings, create_asgi
from tests.app_standin import AppStandIn, running
from tests.launch import free_port
from tests.live_hub import serving_in_thread

APP_ID = "wxbench000000000"
TOKEN = "bench-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
DELIVERY_TIMEOUT_S = 120.0
RETRIES = 3


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def sealed(text: str, sender: str, msg_id: int) -> tuple[dict[str, str], bytes]:
    """Query and body of one safe-mode webhook, as WeChat sends it."""
    stamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    xml = (
        f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
        f"<FromUserName><![CDATA[{sender}]]></FromUserName><CreateTime>{stamp}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>"
        f"<MsgId>{msg_id}</MsgId></xml>"
    )
    envelope = WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(xml, nonce, stamp)
    params = {
        "signature": hashlib.sha1("".join(sorted([TOKEN, stamp, nonce])).encode()).hexdigest(),
        "timestamp": stamp,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": envelope.split("<MsgSignature><![CDATA[")[1].split("]]>")[0],
    }
    return params, envelope.encode()


def summary(seconds: list[float]) -> dict[str, float | None]:
    """p50, p95 and max in milliseconds (None when there is nothing to summarise)."""
    if not seconds:
        return {"p50": None, "p95": None, "max": None}
    return {
        "p50": round(statistics.median(seconds) * 1000, 1),
        "p95": round(percentile(seconds, 95) * 1000, 1),
        "max": round(max(seconds) * 1000, 1),
    }


def hub_settings(stand_in: AppStandIn, var_dir: Path, port: int, threads: int) -> dict[str, Any]:
    """The hub's settings for the benchmark, by field name."""
    return {
        "embedding_threads": threads,
        "var_dir": var_dir,
        "port": port,
        "log_level": "WARNING",
        "rasa_port": stand_in.port,
        "actions_port": stand_in.port,
        "wechat_app_id": APP_ID,
        "wechat_app_secret": "bench-secret",
        "wechat_token": TOKEN,
        "wechat_aes_key": AES_KEY,
        "wechat_api_url": stand_in.url,
        "outbox_retry_s": 1.0,
        "rate_limits_enabled": False,
    }


class Hub:
    """The hub served by uvicorn in a thread, on a fresh var folder (``--in-process``)."""

    def __init__(self, stand_in: AppStandIn, var_dir: Path, threads: int) -> None:
        self.port = free_port()
        chosen = hub_settings(stand_in, var_dir, self.port, threads)
        settings = Settings(_env_file=None, **chosen)  # type: ignore[call-arg]
        config = uvicorn.Config(
            create_asgi(settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_keep_alive=60,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Hub:
        self.thread.start()
        deadline = time.monotonic() + 60
        # uvicorn has no start-up event to wait on; it sets ``started`` once it listens.
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the hub did not start in 60 s")
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


class HubProcess:
    """The hub as the supervisor starts it: uvicorn in a process of its own, settings from
    ``BOT_*`` variables."""

    def __init__(self, stand_in: AppStandIn, var_dir: Path, threads: int) -> None:
        self.port = free_port()
        self.log_path = var_dir / "hub.log"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(PROJECT_ROOT),
            **{
                f"BOT_{name.upper()}": str(value).lower() if isinstance(value, bool) else str(value)
                for name, value in hub_settings(stand_in, var_dir, self.port, threads).items()
            },
        }
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> HubProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", "bot.app:create_asgi", "--factory"),
                    *("--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"),
                    *("--log-level", "warning", "--timeout-keep-alive", "60"),
                ],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while True:  # a process gives no start-up event but its health answer
            if self.process.poll() is not None:
                raise RuntimeError(f"the hub exited: {self.log_path.read_text()[-2000:]}")
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
                return self  # listening (health says "degraded": the stand-in is no full Rasa)
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("the hub did not start in 120 s")
            time.sleep(0.2)

    def cpu_s(self) -> float | None:
        """CPU seconds the hub process has used (user + system, all its threads; Linux)."""
        if self.process is None:
            return None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def customer(
    client: aiohttp.ClientSession,
    url: str,
    number: int,
    sealed_messages: list[tuple[dict[str, str], bytes]],
    copies: int,
    acks: list[tuple[int, float]],
    posted: dict[str, float],
    errors: list[float],
    replied: Callable[[str], Coroutine[Any, Any, None]] | None,
) -> None:
    for index, (params, body) in enumerate(sealed_messages):
        text = f"c{number}-m{index}"
        if index and replied is not None:
            await replied(f"c{number}-m{index - 1}")  # a customer in conversation reads first
        posted[text] = time.monotonic()
        for _ in range(copies):
            for _attempt in range(RETRIES):  # as WeChat does when it gets no answer
                started = time.monotonic()
                try:
                    async with client.post(url, params=params, data=body) as response:
                        answer = await response.text()
                except (TimeoutError, aiohttp.ClientConnectionError):
                    errors.append(time.monotonic() - started)
                    continue
                acks.append((index, time.monotonic() - started))
                if answer != "success":
                    raise RuntimeError(f"webhook answered {response.status}: {answer}")
                break


def client_session(customers: int) -> aiohttp.ClientSession:
    """WeChat's side: one connection per customer at most. aiohttp, not httpx: with 50
    requests at once httpx's own pool added 90 ms (new connections) to 270 ms (kept ones) to
    every acknowledgement against a server that answers at once (``harness_floor``)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=customers),
        timeout=aiohttp.ClientTimeout(total=30),
    )


async def _answer_success(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that reads the request and answers ``success``: the harness floor's server."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass  # the whole body is read, as the hub reads it
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"success"})


def harness_floor(customers: int) -> dict[str, dict[str, float | None]]:
    """The acknowledgement this harness measures against a server that does nothing (uvicorn in
    a thread of this process, as the stand-in runs): what the client and the machine add to
    every figure, measured in the same run. Every customer's first message at once (new
    connections), then again on the kept connections."""
    mail = [[sealed(f"c{n}", f"oFloor{n:04d}", n)] * 2 for n in range(customers)]
    acks: list[tuple[int, float]] = []

    async def burst(url: str) -> None:
        async with client_session(customers) as client:
            await asyncio.gather(
                *(
                    customer(client, url, n, mail[n], 1, acks, {}, [], None)
                    for n in range(customers)
                )
            )

    with serving_in_thread(_answer_success, start_timeout_s=30) as base_url:
        asyncio.run(burst(f"{base_url}/channels/wechat"))
    return {
        "first_messages": summary([ack for index, ack in acks if index == 0]),
        "later_messages": summary([ack for index, ack in acks if index > 0]),
    }


def outbox_statuses(var_dir: Path) -> dict[str, int]:
    with sqlite3.connect(var_dir / "hub.db") as db:
        rows = db.execute("SELECT status, COUNT(*) FROM outbox_messages GROUP BY status")
        return dict(rows.fetchall())


def run(
    customers: int,
    messages: int,
    copies: int,
    failure_rate: float,
    converse: bool,
    in_process: bool,
    threads: int,
) -> dict[str, Any]:
    stand_in = AppStandIn(failure_rate=failure_rate)
    serve = Hub if in_process else HubProcess
    with (
        tempfile.TemporaryDirectory() as folder,
        running(stand_in),
        serve(stand_in, Path(folder), threads) as hub,
    ):
        url = f"http://127.0.0.1:{hub.port}/channels/wechat"
        acks: list[tuple[int, float]] = []
        errors: list[float] = []
        posted: dict[str, float] = {}

        # The stand-in signals a condition from its server thread: a thread per customer waits.
        waiters = ThreadPoolExecutor(max_workers=customers)

        async def replied(text: str) -> None:
            def seen() -> bool:
                return f"echo: {text}" in stand_in.texts()

            await asyncio.get_running_loop().run_in_executor(
                waiters, stand_in.wait_until, seen, DELIVERY_TIMEOUT_S
            )

        async def load() -> None:
            wait = replied if converse else None
            # Sealed before the clock starts: WeChat's servers encrypt elsewhere, and sealing
            # 50 customers' messages in this loop would count into the first acknowledgements.
            mail = [
                [sealed(f"c{n}-m{i}", f"oBench{n:04d}", n * 1000 + i) for i in range(messages)]
                for n in range(customers)
            ]
            async with client_session(customers) as client:
                await asyncio.gather(
                    *(
                        customer(client, url, n, mail[n], copies, acks, posted, errors, wait)
                        for n in range(customers)
                    )
                )

        cpu_before = hub.cpu_s() if isinstance(hub, HubProcess) else None
        started = time.monotonic()
        asyncio.run(load())
        waiters.shutdown()
        expected = customers * messages
        # Replies not in by then are counted as lost.
        stand_in.wait_until(lambda: len(stand_in.sent) >= expected, DELIVERY_TIMEOUT_S)
        cpu_used = None if cpu_before is None or not isinstance(hub, HubProcess) else hub.cpu_s()
        replies = Counter(t.removeprefix("echo: ") for t in stand_in.texts())
        delivery = [
            item.at - posted[item.body["text"]["content"].removeprefix("echo: ")]
            for item in stand_in.sent
        ]
        return {
            "customers": customers,
            "messages_per_customer": messages,
            "customers_wait_for_replies": converse,
            "deliveries_per_webhook": copies,
            "api_failure_rate": failure_rate,
            "hub": "in the benchmark's process" if in_process else "own process",
            "embedding_threads": threads,
            "webhooks_posted": len(acks),
            "webhook_transport_errors": len(errors),
            "ack_ms": summary([ack for _, ack in acks]),
            # Every customer's first message arrives with all the others' at once, on a new
            # connection: the burst; the later ones as customers read and answer.
            "ack_ms_first_messages": summary([ack for index, ack in acks if index == 0]),
            "ack_ms_later_messages": summary([ack for index, ack in acks if index > 0]),
            "reply_delivered_s": {
                "p50": round(statistics.median(delivery), 3),
                "p95": round(percentile(delivery, 95), 3),
                "max": round(max(delivery), 3),
            },
            "replies_expected": expected,
            # Not delivered when the wait ended; the outbox's statuses say whether any was lost
            # (given up) or is still being retried.
            "undelivered_after_wait": sum(1 for text in posted if replies[text] == 0),
            "wait_s": DELIVERY_TIMEOUT_S,
            "outbox_statuses": outbox_statuses(Path(folder)),
            "duplicate_replies": sum(n - 1 for n in replies.values() if n > 1),
            "wall_s": round(time.monotonic() - started, 1),
            # The hub's CPU per message handled, from the first webhook to the last reply (the
            # machine's other load does not add to it as it adds to every time above).
            "hub_cpu_ms_per_message": None
            if cpu_used is None or cpu_before is None
            else round((cpu_used - cpu_before) / expected * 1000, 1),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }


# name: (deliveries of each webhook, share of the stand-in's sends that fail, whether each
# customer waits for the reply before writing again)
SCENARIOS = {
    "load": (1, 0.0, False),
    "conversations": (1, 0.0, True),
    "every_webhook_3x": (3, 0.0, False),
    "api_fails_30pct": (1, 0.3, False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--messages", type=int, default=4)
    parser.add_argument(
        "--only", choices=sorted(SCENARIOS), help="Run one scenario instead of all four."
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="Serve the hub from a thread of this process (shares the interpreter lock with "
        "the customers and the stand-in).",
    )
    parser.add_argument(
        "--embedding-threads",
        type=int,
        nargs="+",
        default=[1],
        help="The hub's BOT_EMBEDDING_THREADS; several values run each scenario once per value, "
        "interleaved (a comparison in one run).",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    chosen = [args.only] if args.only else list(SCENARIOS)
    results: dict[str, Any] = {"harness_floor_ack_ms": harness_floor(args.customers)}
    results |= {
        f"{name} threads={threads}": run(
            args.customers, args.messages, *SCENARIOS[name], args.in_process, threads
        )
        for name in chosen
        for threads in args.embedding_threads
    }
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
