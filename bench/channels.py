"""The WeChat channel under load: acknowledgement latency, reply delivery, duplicates and lost
replies, through the real hub (uvicorn, real SQLite) with a local server standing in for
WeChat's API and for Rasa (an echo: the figures are the hub's channel machinery, not NLU).

    .venv/bin/python -m bench.channels [--customers 50] [--messages 4]

Three runs, each on a fresh hub: (1) every customer sends its messages one after another,
all customers at once; (2) the same, every webhook delivered three times; (3) the stand-in's
send API fails 30 % of calls at random, the outbox retries with its default policy. Every
message is encrypted and signed in safe mode with wechatpy's crypto. Synthetic traffic.
Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from wechatpy.crypto import WeChatCrypto

from bot.app import Settings, create_asgi
from tests.app_standin import AppStandIn, running
from tests.launch import free_port

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


class Hub:
    """The hub served by uvicorn in a thread, on a fresh var folder."""

    def __init__(self, stand_in: AppStandIn, var_dir: Path) -> None:
        self.port = free_port()
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            var_dir=var_dir,
            port=self.port,
            log_level="WARNING",
            rasa_port=stand_in.port,
            actions_port=stand_in.port,
            wechat_app_id=APP_ID,
            wechat_app_secret="bench-secret",
            wechat_token=TOKEN,
            wechat_aes_key=AES_KEY,
            wechat_api_url=stand_in.url,
            outbox_retry_s=1.0,
            rate_limits_enabled=False,
        )
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


async def customer(
    client: httpx.AsyncClient,
    url: str,
    number: int,
    messages: int,
    copies: int,
    acks: list[float],
    posted: dict[str, float],
    errors: list[float],
) -> None:
    sender = f"oBench{number:04d}"
    for index in range(messages):
        text = f"c{number}-m{index}"
        params, body = sealed(text, sender, number * 1000 + index)
        posted[text] = time.monotonic()
        for _ in range(copies):
            for _attempt in range(RETRIES):  # as WeChat does when it gets no answer
                started = time.monotonic()
                try:
                    response = await client.post(url, params=params, content=body)
                except httpx.TransportError:
                    errors.append(time.monotonic() - started)
                    continue
                acks.append(time.monotonic() - started)
                if response.text != "success":
                    raise RuntimeError(f"webhook answered {response.status_code}: {response.text}")
                break


def outbox_statuses(var_dir: Path) -> dict[str, int]:
    with sqlite3.connect(var_dir / "hub.db") as db:
        rows = db.execute("SELECT status, COUNT(*) FROM outbox_messages GROUP BY status")
        return dict(rows.fetchall())


def run(customers: int, messages: int, copies: int, failure_rate: float) -> dict[str, Any]:
    stand_in = AppStandIn(failure_rate=failure_rate)
    with (
        tempfile.TemporaryDirectory() as folder,
        running(stand_in),
        Hub(stand_in, Path(folder)) as hub,
    ):
        url = f"http://127.0.0.1:{hub.port}/channels/wechat"
        acks: list[float] = []
        errors: list[float] = []
        posted: dict[str, float] = {}

        async def load() -> None:
            limits = httpx.Limits(max_connections=customers)
            async with httpx.AsyncClient(timeout=30, limits=limits) as client:
                await asyncio.gather(
                    *(
                        customer(client, url, n, messages, copies, acks, posted, errors)
                        for n in range(customers)
                    )
                )

        started = time.monotonic()
        asyncio.run(load())
        expected = customers * messages
        # Replies not in by then are counted as lost.
        stand_in.wait_until(lambda: len(stand_in.sent) >= expected, DELIVERY_TIMEOUT_S)
        replies = Counter(t.removeprefix("echo: ") for t in stand_in.texts())
        delivery = [
            item.at - posted[item.body["text"]["content"].removeprefix("echo: ")]
            for item in stand_in.sent
        ]
        return {
            "customers": customers,
            "messages_per_customer": messages,
            "deliveries_per_webhook": copies,
            "api_failure_rate": failure_rate,
            "webhooks_posted": len(acks),
            "webhook_transport_errors": len(errors),
            "ack_ms": {
                "p50": round(statistics.median(acks) * 1000, 1),
                "p95": round(percentile(acks, 95) * 1000, 1),
                "max": round(max(acks) * 1000, 1),
            },
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
        }


# name: (deliveries of each webhook, share of the stand-in's sends that fail)
SCENARIOS = {"load": (1, 0.0), "every_webhook_3x": (3, 0.0), "api_fails_30pct": (1, 0.3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--messages", type=int, default=4)
    parser.add_argument(
        "--only", choices=sorted(SCENARIOS), help="Run one scenario instead of all three."
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    chosen = [args.only] if args.only else list(SCENARIOS)
    results = {name: run(args.customers, args.messages, *SCENARIOS[name]) for name in chosen}
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
