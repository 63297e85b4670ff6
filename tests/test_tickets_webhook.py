"""The signed webhook, posted to a real HTTP server started by the test; failures are kept and
retried, never lost."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from bot.handoff import BusinessHours
from bot.storage import Database
from bot.tickets import (
    SIGNATURE_HEADER,
    TicketConfig,
    TicketDraft,
    TicketService,
    WebhookConfig,
    WebhookReport,
    verify,
)
from tests.launch import free_port

SECRET = "shop-secret-0123456789"


class Shop(ThreadingHTTPServer):
    """The shop's endpoint: answers with the queued statuses (then 200) and keeps each post."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses: list[int] = []
        self.received: list[tuple[str, bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Shop

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.headers[SIGNATURE_HEADER], body))
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return  # keep the test output clean


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def shop() -> Iterator[Shop]:
    server = Shop()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path}/hub.db")
    await db.migrate()
    yield db
    db.dispose()


def service_for(database: Database, url: str, clock: Clock) -> TicketService:
    config = TicketConfig(
        hours=BusinessHours.parse("00:00-24:00", "Asia/Shanghai"),
        webhook=WebhookConfig(url=url, secret=SECRET),
    )
    return TicketService(database, config, clock)


DRAFT = TicketDraft(
    customer_id="c1",
    subject="Parcel late",
    description="Order 1001",
    category="delivery",
    channel="rest",
    conversation_id="conv-9",
)


async def test_posts_signed_and_retries_failures(database: Database, shop: Shop) -> None:
    clock = Clock()
    service = service_for(database, shop.url, clock)
    ticket, _ = await service.create(DRAFT, actor="bot")
    await service.reply(ticket.number, author="amy", text="Resending today")
    await service.change_status(ticket.number, "resolved", actor="amy")
    shop.statuses = [500]
    async with httpx.AsyncClient() as client:
        assert await service.deliver_webhooks(client) == WebhookReport(delivered=1, failed=1)
        assert await service.deliver_webhooks(client) == WebhookReport(0, 0)  # not due yet
        clock.now += timedelta(seconds=31)
        assert await service.deliver_webhooks(client) == WebhookReport(1, 0)
        assert await service.deliver_webhooks(client) == WebhookReport(0, 0)
    assert len(shop.received) == 3
    for signature, raw in shop.received:
        assert verify(SECRET, raw, signature)
    bodies = [json.loads(raw) for _, raw in shop.received]
    assert bodies[0] == bodies[2]  # the failed post, retried unchanged
    assert [b["notification_id"] for b in bodies] == [1, 2, 1]
    assert bodies[0] == {
        "event": "ticket.reply",
        "notification_id": 1,
        "ticket": ticket.number,
        "status": "open",
        "customer_id": "c1",
        "channel": "rest",
        "conversation_id": "conv-9",
        "text": f"New reply on your ticket {ticket.number}: Resending today",
        "created_at": "2026-12-02T02:00:00+00:00",
    }
    assert bodies[1]["event"] == "ticket.status"
    assert bodies[1]["status"] == "resolved"


async def test_unreachable_endpoint_keeps_the_post(database: Database, shop: Shop) -> None:
    clock = Clock()
    down = service_for(database, f"http://127.0.0.1:{free_port()}/hook", clock)
    ticket, _ = await down.create(DRAFT, actor="bot")
    await down.reply(ticket.number, author="amy", text="Hello")
    async with httpx.AsyncClient() as client:
        assert await down.deliver_webhooks(client) == WebhookReport(0, 1)
        clock.now += timedelta(seconds=29)
        assert await down.deliver_webhooks(client) == WebhookReport(0, 0)
        # The shop fixes its endpoint; the same rows go there once they are due again.
        up = service_for(database, shop.url, clock)
        clock.now += timedelta(seconds=2)
        assert await up.deliver_webhooks(client) == WebhookReport(1, 0)
    assert [json.loads(raw)["text"] for _, raw in shop.received] == [
        f"New reply on your ticket {ticket.number}: Hello"
    ]


@pytest.mark.parametrize(
    ("url", "secret", "message"),
    [
        ("ftp://shop/hook", SECRET, "must start with http:// or https://"),
        ("https://shop/hook", "short", "at least 16 characters"),
    ],
)
def test_bad_webhook_config(url: str, secret: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WebhookConfig(url=url, secret=secret)


def test_retry_backs_off_to_an_hour() -> None:
    config = WebhookConfig(url="https://shop/hook", secret=SECRET)
    assert [config.retry_after(n) for n in (1, 2, 3, 8, 50)] == [
        timedelta(seconds=30),
        timedelta(seconds=60),
        timedelta(seconds=120),
        timedelta(hours=1),
        timedelta(hours=1),
    ]
