"""Rasa's events through RabbitMQ into the hub (the ``scale`` profile with ``BOT_RABBITMQ_URL``).

Rasa's pika event broker publishes every tracker event to a fanout exchange and the durable queue
``BOT_RASA_EVENTS_QUEUE``; every hub replica consumes that one queue (RabbitMQ hands each event to
one of them), so each event is handled once. An event is acknowledged only after it was handled:
one that fails (the database away) is put back and tried again, so a hub stopped or failing
loses nothing; one that cannot be read (not a JSON object) is dropped with a warning, never
retried forever.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from bot.app._rasa_runtime import RASA_EXCHANGE
from bot.dialogue import TURN_KEY, intent_ranking
from bot.insights import record_message_intent
from bot.storage import Database

logger = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, Any]], Awaitable[None]]
PREFETCH = 50  # events in flight per replica
RETRY_AFTER_S = 1.0  # a failed event waits this long before it goes back to the queue


class RasaEvents:
    """Consumes Rasa's event queue and hands each event (a dict, with ``sender_id``) to
    ``handle``."""

    def __init__(
        self, url: str, queue: str, handle: EventHandler, exchange: str = RASA_EXCHANGE
    ) -> None:
        self._url = url
        self._queue = queue
        self._exchange = exchange
        self._handle = handle
        self._connection: AbstractRobustConnection | None = None
        self.handled = 0  # events handled since start (tests, stats)
        self.dropped = 0  # events that could not be read
        self._progress = asyncio.Condition()

    async def wait_handled(self, count: int) -> None:
        """Until ``count`` events were handled or dropped since start (tests, benchmarks)."""
        async with self._progress:
            await self._progress.wait_for(lambda: self.handled + self.dropped >= count)

    async def start(self) -> None:
        """Connect, declare the queue as Rasa does (durable, bound to its fanout exchange) and
        consume; the connection reconnects by itself (aio-pika's robust connection)."""
        self._connection = await aio_pika.connect_robust(self._url)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        exchange = await channel.declare_exchange(self._exchange, aio_pika.ExchangeType.FANOUT)
        queue = await channel.declare_queue(self._queue, durable=True)
        await queue.bind(exchange, "")
        await queue.consume(self._on_message)
        logger.info("Reading Rasa's events from RabbitMQ queue %s", self._queue)

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            event = json.loads(message.body)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            logger.warning("A Rasa event that is not a JSON object was dropped")
            await message.ack()
            await self._count("dropped")
            return
        try:
            await self._handle(event)
        except Exception:  # any failure: the event is kept for another try
            logger.exception(
                "A Rasa event (%s) failed; it goes back to the queue", event.get("event")
            )
            await asyncio.sleep(RETRY_AFTER_S)
            await message.nack(requeue=True)
            return
        await message.ack()
        await self._count("handled")

    async def _count(self, what: str) -> None:
        async with self._progress:
            setattr(self, what, getattr(self, what) + 1)
            self._progress.notify_all()


def message_intent(
    event: dict[str, Any],
) -> tuple[int, str, float | None, tuple[tuple[str, float], ...]] | None:
    """(hub message id, intent, confidence, top of the ranking) of a user event the hub tagged;
    None otherwise."""
    if event.get("event") != "user":
        return None
    metadata = event.get("metadata")
    turn = metadata.get(TURN_KEY) if isinstance(metadata, dict) else None
    if not isinstance(turn, int) or isinstance(turn, bool) or turn < 1:
        return None
    parse = event.get("parse_data")
    intent = parse.get("intent") if isinstance(parse, dict) else None
    name = intent.get("name") if isinstance(intent, dict) else None
    if not isinstance(name, str) or not name:
        return None
    confidence = intent.get("confidence") if isinstance(intent, dict) else None
    if not isinstance(confidence, int | float) or not 0.0 <= confidence <= 1.0:
        confidence = None
    ranking = intent_ranking(parse.get("intent_ranking") if isinstance(parse, dict) else None)
    return turn, name[:64], None if confidence is None else float(confidence), ranking


def intent_recorder(database: Database) -> EventHandler:
    """The hub's handler of Rasa's events: the intent of each customer message it sent."""

    async def record(event: dict[str, Any]) -> None:
        found = message_intent(event)
        if found is None:
            return
        message_id, intent, confidence, ranking = found
        await database.transaction(
            lambda connection: record_message_intent(
                connection, message_id, intent, confidence, ranking
            )
        )

    return record
