"""What other modules tell the hub about a customer: their orders and membership tier (the order
service) for the agent's context panel and the VIP trigger, and reply suggestions drawn from the
knowledge base."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.app._knowledge import SharedKnowledge
from bot.conversations import customer_id
from bot.orders import InvalidOrderId, Order, OrderNotFound, OrderService
from knowledge import KnowledgeError

logger = logging.getLogger(__name__)

MAX_ORDERS = 10


class CustomerFacts:
    """Orders, VIP status and reply suggestions, each off the event loop."""

    def __init__(
        self,
        orders: OrderService,
        knowledge: SharedKnowledge,
        prioritized: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self._orders = orders
        self._knowledge = knowledge
        self._prioritized = prioritized

    async def is_vip(self, _channel: str, account: str) -> bool:
        """Whether the customer (the shop's id of them) is a gold or platinum member, or was
        granted priority routing by a churn retention rule."""
        if await asyncio.to_thread(self._orders.is_vip, account):
            return True
        return self._prioritized is not None and await self._prioritized(account)

    async def orders(
        self, channel: str, sender: str, mentioned: list[str], language: str
    ) -> list[dict[str, Any]]:
        """The orders the conversation named, then an identified customer's own, newest first."""
        account = customer_id(channel, sender)
        return await asyncio.to_thread(self._collect_orders, account, mentioned, language)

    def _collect_orders(
        self, account: str | None, mentioned: list[str], language: str
    ) -> list[dict[str, Any]]:
        found: dict[str, Order] = {}
        for order_id in mentioned:
            try:
                order = self._orders.get(order_id)
            except (InvalidOrderId, OrderNotFound):
                continue
            found.setdefault(order.id, order)
        for order in self._orders.orders_of(account) if account else []:
            found.setdefault(order.id, order)
        return [order_summary(o, language) for o in list(found.values())[:MAX_ORDERS]]

    async def suggestions(self, question: str, language: str) -> list[dict[str, Any]]:
        """The knowledge base's answer to the customer's last message, if it has a reliable one."""
        try:
            answer = await asyncio.to_thread(self._answer, question, language)
        except KnowledgeError as exc:
            logger.info("No reply suggestion: %s", exc)
            return []
        if answer is None or answer.abstained:
            return []
        return [
            {
                "text": answer.answer,
                "kind": answer.kind,
                "confidence": round(answer.confidence, 3),
                "citations": [c.to_dict() for c in answer.citations],
            }
        ]

    def _answer(self, question: str, language: str) -> Any:
        return self._knowledge.get().answer(
            question, language if language in ("zh", "en") else None
        )


def order_summary(order: Order, language: str) -> dict[str, Any]:
    """What an agent sees of an order: enough to help, and only the phone's last four digits."""
    return {
        "id": order.id,
        "status": order.status,
        "placed_on": order.placed_on.isoformat(),
        "delivered_on": order.delivered_on.isoformat() if order.delivered_on else None,
        "total": order.total,
        "items": order.item_names(language),
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "address": order.address,
        "phone_last4": order.phone[-4:],
    }
