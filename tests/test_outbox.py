"""The outbox's units of work on real SQLite: a message claimed by one of two senders at once,
each send's outcome recorded, deliveries de-duplicated and marked handled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.outbox import GAVE_UP, PENDING, SENT, Outbox, RetryPolicy, SendFailed, Undeliverable
from bot.outbox._tables import InboundRow
from bot.storage import Database, utcnow

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
