"""The outbox's units of work on real SQLite: a message claimed by one of two senders at once,
each send's outcome recorded, deliveries de-duplicated and marked handled."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.outbox import GAVE_UP, PENDING, SENT, Outbox, RetryPolicy, SendFailed, Undeliverable
from bot.outbox._tables import InboundRow
from bot.storage import Database, upgrade, utcnow
from tests.migrations import model_differences

BODY = {"text": {"content": "您的订单已发货"}}


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    database = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    await database.migrate()
    yield Outbox(database, RetryPolicy(first=timedelta(seconds=30), jitter=0.0, max_attempts=3))
    database.dispose()


class Recorder:
    """A stand-in send API: records what it took, or fails as told."""

    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.error = error

    async def send(self, recipient: str, body: dict[str, Any]) -> None:
        if self.error is not None:
            raise self.error
        self.sent.append((recipient, body))


async def test_of_two_senders_at_once_one_claims_the_message(outbox: Outbox) -> None:
    message_id = await outbox.enqueue("wechat", "oCustomer", BODY, source_id="message:1")
    assert message_id is not None
    assert await outbox.enqueue("wechat", "oCustomer", BODY, source_id="message:1") is None
    app = Recorder()
    outcomes = await asyncio.gather(
        outbox.deliver(message_id, {"wechat": app.send}),
        outbox.deliver(message_id, {"wechat": app.send}),
    )
    assert sorted(outcomes, key=str) == [None, SENT]
    assert app.sent == [("oCustomer", BODY)]
    [row] = await outbox.messages("wechat")
    assert (row.status, row.attempts, row.last_error) == (SENT, 1, None)
    assert row.sent_at is not None
    assert await outbox.deliver(message_id, {"wechat": app.send}) is None  # sent stays sent


async def test_a_failed_send_waits_its_backoff_and_a_refusal_gives_up(outbox: Outbox) -> None:
    message_id = await outbox.enqueue("wechat", "oCustomer", BODY, source_id="message:2")
    assert message_id is not None
    before = utcnow()
    status = await outbox.deliver(message_id, {"wechat": Recorder(SendFailed("HTTP 503")).send})
    assert status == PENDING
    [row] = await outbox.messages("wechat")
    assert (row.status, row.attempts, row.last_error) == (PENDING, 1, "SendFailed: HTTP 503")
    assert row.next_attempt_at >= before + timedelta(seconds=30)
    assert row.sent_at is None
    assert await outbox.deliver(message_id, {"wechat": Recorder().send}) is None  # not due yet
    await outbox.retry_now(message_id)
    refused = Recorder(Undeliverable("45015: the customer has not written for 48 hours"))
    assert await outbox.deliver(message_id, {"wechat": refused.send}) == GAVE_UP
    [row] = await outbox.messages("wechat")
    assert (row.status, row.attempts) == (GAVE_UP, 2)
    assert row.last_error == "45015: the customer has not written for 48 hours"


async def test_a_delivery_is_kept_once_and_forgotten_when_handled(
    outbox: Outbox, tmp_path: Path
) -> None:
    first = await outbox.accept_inbound("wechat", "m-1", {"text": "你好"})
    assert first is not None
    assert await outbox.accept_inbound("wechat", "m-1", {"text": "你好"}) is None
    await outbox.handled(first)
    database = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        row = await database.session(lambda s: s.scalars(select(InboundRow)).one())
    finally:
        database.dispose()
    assert (row.status, row.body) == ("handled", None)
    assert row.handled_at is not None


class ReceiptApp:
    """A stand-in send API that answers each message's id, as Feishu and DingTalk do."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.sent = 0

    async def send(self, recipient: str, body: dict[str, Any]) -> str:
        self.sent += 1
        return f"{self.prefix}{self.sent}"


async def sent_with_receipts(outbox: Outbox, channel: str, app: ReceiptApp, n: int) -> None:
    for number in range(1, n + 1):
        queued = await outbox.enqueue(channel, "oc_1", BODY, source_id=f"message:{number}")
        assert queued is not None
        assert await outbox.deliver(queued, {channel: app.send}) == SENT


async def test_a_read_receipt_marks_its_message_read_once(outbox: Outbox) -> None:
    await sent_with_receipts(outbox, "feishu", ReceiptApp("om_"), 2)
    at = utcnow().replace(microsecond=0)
    [read] = await outbox.mark_read("feishu", ["om_2", "om_unknown"], at)
    assert (read.source_id, read.receipt, read.read_at) == ("message:2", "om_2", at)
    assert await outbox.mark_read("feishu", ["om_2"], utcnow()) == []  # replayed
    assert await outbox.mark_read("dingtalk", ["om_1"], at) == []  # another app's id
    assert await outbox.mark_read("feishu", [], at) == []
    found = {m.source_id: (m.receipt, m.read_at) for m in await outbox.messages("feishu")}
    assert found == {"message:1": ("om_1", None), "message:2": ("om_2", at)}


async def test_read_status_is_asked_about_followed_messages_until_read_or_too_old(
    outbox: Outbox,
) -> None:
    """The least recently asked first; a read message, or one sent before the app's answering
    window, is asked about no more; a message nobody follows never is."""
    assert await outbox.follow_reads("dingtalk", "message:1") is False  # not enqueued yet
    await sent_with_receipts(outbox, "dingtalk", ReceiptApp("k"), 3)
    for source in ("message:1", "message:2"):
        assert await outbox.follow_reads("dingtalk", source) is True
    hour_ago = utcnow() - timedelta(hours=1)

    async def asked(limit: int) -> list[str | None]:
        return [m.receipt for m in await outbox.unread("dingtalk", hour_ago, limit)]

    assert await asked(1) == ["k1"]  # never asked, the oldest first
    assert await asked(1) == ["k2"]  # never asked before the one asked already
    assert await asked(5) == ["k1", "k2"]  # k3 is followed by nobody
    await outbox.mark_read("dingtalk", ["k1"], utcnow())
    assert await asked(5) == ["k2"]
    assert await outbox.unread("dingtalk", utcnow() + timedelta(seconds=1)) == []  # too old
    assert await asked(5) == []  # and given up for good


def test_migration_0501_adds_the_receipt_columns_to_earlier_messages(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hub.db"
    upgrade(url, "0500")
    with sqlite3.connect(tmp_path / "hub.db") as db:
        db.execute(
            "INSERT INTO outbox_messages (id, channel, recipient, source_id, body, status, "
            "attempts, created_at, next_attempt_at, sent_at) VALUES (1, 'dingtalk', 'user:1', "
            "'message:1', '{}', 'sent', 1, '2026-12-01 00:00:00', '2026-12-01 00:00:00', "
            "'2026-12-01 00:00:00')"
        )
    upgrade(url)
    with sqlite3.connect(tmp_path / "hub.db") as db:
        rows = db.execute(
            "SELECT receipt, read_at, follow_reads, read_checked_at FROM outbox_messages"
        ).fetchall()
    assert rows == [(None, None, 0, None)]
    assert model_differences(url, "outbox") == []
