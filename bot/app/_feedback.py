"""Order changes as recommendation events: the wiring subscribes the recommendation service to
the order service, so neither module imports the other."""

from __future__ import annotations

import asyncio
import logging

from bot.orders import OrderChange
from bot.recommend import Event, EventKind, RecommendError, RecommendService
from bot.storage import utcnow

logger = logging.getLogger(__name__)

EVENT_OF_CHANGE: dict[str, EventKind] = {"returned": "return", "placed": "purchase"}


class OrderEvents:
    """An order listener that records each item of a changed order as the customer's event.

    The order service is synchronous and its callers (actions) run on an event loop: the events
    are recorded in tasks on that loop, kept here so that none is lost and ``drain`` can wait.
    """

    def __init__(self, recommendations: RecommendService) -> None:
        self._recommendations = recommendations
        self._pending: set[asyncio.Task[None]] = set()

    def __call__(self, change: OrderChange) -> None:
        kind = EVENT_OF_CHANGE.get(change.kind)
        if kind is None:
            return
        order = change.order
        events = [
            Event(order.customer_id, line.product.sku, kind, utcnow(), channel="orders")
            for line in order.items
        ]
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside an event loop (a command, a script)
            asyncio.run(self._record(events))
            return
        task = loop.create_task(self._record(events))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Until every event scheduled so far is recorded (or its failure logged)."""
        while self._pending:
            await asyncio.gather(*list(self._pending))

    async def _record(self, events: list[Event]) -> None:
        for event in events:
            try:
                await self._recommendations.record_event(event)
            except RecommendError as exc:
                # An order item outside the recommendation catalogue: nothing to learn from.
                logger.warning("Order event not recorded for recommendations: %s", exc)
