"""The order service that custom actions call: look-ups, return decisions and changes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.orders._errors import InvalidOrder, InvalidStateChange, OrderNotFound
from bot.orders._models import (
    TIERS,
    Budget,
    Category,
    Order,
    OrderChange,
    OrderItem,
    Product,
    ReturnEligibility,
    ReturnKind,
    Tier,
)
from bot.orders._policy import (
    MAX_PHONE_ATTEMPTS,
    MAX_PHONE_ATTEMPTS_PER_DAY,
    MAX_PHONE_FAILURES,
    change_refusal,
    clean_address,
    may_see,
    return_eligibility,
)
from bot.orders._store import OrderStore
from bot.orders._text import classify_return_reason, normalize_order_id, phone_last4_from

logger = logging.getLogger(__name__)

FIXTURES = Path(__file__).resolve().parent / "fixtures.yml"
VIP_TIERS: frozenset[str] = frozenset({"gold", "platinum"})
# Told of each stored change; the wiring subscribes (e.g. recommendations record a return), so
# this module knows nothing of who listens.
OrderListener = Callable[[OrderChange], None]


class OrderService:
    """Orders of the demo shop; every change is checked against the shop's rules first."""

    def __init__(
        self, database: Path, *, timezone: str = "Asia/Shanghai", fixtures: Path = FIXTURES
    ) -> None:
        self._store = OrderStore(database)
        self._zone = ZoneInfo(timezone)
        self._store.ensure_seeded(fixtures, self.today())
        self._listeners: list[OrderListener] = []

    def subscribe(self, listener: OrderListener) -> None:
        """Call ``listener`` after each stored change (a listener must not raise)."""
        self._listeners.append(listener)

    def _tell(self, change: OrderChange) -> None:
        for listener in self._listeners:
            listener(change)

    def today(self) -> date:
        """Today's date in the shop's time zone."""
        return datetime.now(self._zone).date()

    def date_of(self, moment: datetime) -> date:
        """The shop's calendar date at ``moment`` (orders are dated in the shop's time zone)."""
        return moment.astimezone(self._zone).date()

    @staticmethod
    def normalize_id(order_id: str) -> str:
        """The order id in its stored spelling; InvalidOrderId when it cannot be one."""
        return normalize_order_id(order_id)

    def get(self, order_id: str) -> Order:
        """The order with this id in any common spelling; InvalidOrderId, OrderNotFound."""
        normalized = normalize_order_id(order_id)
        order = self._store.order(normalized)
        if order is None:
            raise OrderNotFound(f"there is no order {normalized}")
        return order

    def orders_of(self, customer_id: str) -> list[Order]:
        """The customer's orders, newest first."""
        return self._store.orders_of(customer_id)

    def customer_ids(self) -> list[str]:
        """Every customer of the shop, in id order (churn features are built per customer)."""
        return self._store.customer_ids()

    def tier_of(self, customer_id: str) -> Tier | None:
        """The customer's membership tier, or None for an id the shop does not know."""
        tier = self._store.tier_of(customer_id)
        return next((t for t in TIERS if t == tier), None)

    def is_vip(self, customer_id: str) -> bool:
        """Gold and platinum members are the shop's VIPs: their unhappy messages go to a human."""
        return self.tier_of(customer_id) in VIP_TIERS

    def phone_matches(self, order: Order, text: str) -> bool:
        """Whether ``text`` gives the last four digits of the phone number on ``order``."""
        given = phone_last4_from(text)
        return given is not None and given == order.phone[-4:]

    @staticmethod
    def may_see(order: Order, customer_id: str | None, verified_orders: Iterable[str] = ()) -> bool:
        """Whether the sender may see ``order``: theirs, or its phone was verified."""
        return may_see(order, customer_id, verified_orders)

    @staticmethod
    def phone_attempts_left(failed_attempts: int) -> int:
        """How many more phone endings the customer may try after ``failed_attempts`` wrong ones."""
        return max(0, MAX_PHONE_ATTEMPTS - failed_attempts)

    @staticmethod
    def verification_blocked(
        failed_for_order: int, failed_in_conversation: int, failed_for_order_today: int = 0
    ) -> bool:
        """Whether the phone check stops for an order: too many wrong endings for it in this
        conversation, over every order id the conversation tried (an unknown id counts like
        anyone else's), or for it over every conversation in the last day."""
        return (
            failed_for_order >= MAX_PHONE_ATTEMPTS
            or failed_in_conversation >= MAX_PHONE_FAILURES
            or failed_for_order_today >= MAX_PHONE_ATTEMPTS_PER_DAY
        )

    @staticmethod
    def clean_address(text: str) -> str:
        """The address as it would be stored; InvalidAddress when it cannot be one."""
        return clean_address(text)

    def return_eligibility(
        self,
        order_id: str,
        reason: str = "",
        today: date | None = None,
        *,
        kind: ReturnKind | None = None,
    ) -> ReturnEligibility:
        """Whether the order may be returned for ``reason`` (free text, or ``kind``) on ``today``.

        Without a reason the decision is for a no-reason return; ``kind="quality"`` asks whether
        any return is still possible (the widest window).
        """
        order = self.get(order_id)
        decided = kind or classify_return_reason(reason)
        return return_eligibility(order, decided, today or self.today())

    def request_return(self, order_id: str, reason: str, today: date | None = None) -> Order:
        """Open a return; InvalidStateChange (with the eligibility code) when not allowed."""
        day = today or self.today()
        decision = self.return_eligibility(order_id, reason, day)
        if not decision.eligible:
            raise InvalidStateChange(
                f"order {decision.order_id} cannot be returned ({decision.kind}): {decision.code}",
                decision.code,
            )
        detail = f"{decision.kind}: {reason.strip()[:200]}"
        self._store.update(
            decision.order_id, {"status": "return_requested"}, "return_requested", detail, day
        )
        logger.info("Return requested for order %s (%s)", decision.order_id, decision.kind)
        order = self.get(decision.order_id)
        self._tell(OrderChange("returned", order))
        return order

    def place(
        self,
        customer_id: str,
        items: Iterable[tuple[str, int]],
        *,
        address: str,
        recipient: str,
        phone: str,
    ) -> Order:
        """Store a new paid order of (sku, quantity) lines for a known customer and tell the
        listeners ("placed"); InvalidOrder or InvalidAddress say what is wrong."""
        tier = self._store.tier_of(customer_id)
        if tier is None:
            raise InvalidOrder(f"no customer has id {customer_id[:64]!r}")
        catalogue = {p.sku: p for p in self._store.products()}
        lines = list(items)
        if not 1 <= len(lines) <= 50:
            raise InvalidOrder("an order has 1 to 50 lines")
        for sku, quantity in lines:
            if sku not in catalogue:
                raise InvalidOrder(f"no product has the SKU {sku[:32]!r}")
            if not 1 <= quantity <= 99:
                raise InvalidOrder(f"the quantity of {sku} must be 1 to 99, not {quantity}")
        if not recipient.strip() or len(recipient) > 64 or not 5 <= len(phone) <= 20:
            raise InvalidOrder("the recipient needs a name (1-64 characters) and a phone number")
        day = self.today()
        draft = Order(
            id="",
            customer_id=customer_id,
            customer_tier=TIERS[TIERS.index(tier)] if tier in TIERS else "regular",
            status="paid",
            placed_on=day,
            shipped_on=None,
            delivered_on=None,
            carrier=None,
            tracking_number=None,
            address=clean_address(address),
            recipient=recipient.strip(),
            phone=phone.strip(),
            items=tuple(OrderItem(catalogue[sku], quantity) for sku, quantity in lines),
        )
        order = self.get(self._store.insert(draft, day))
        logger.info("Order %s placed", order.id)
        self._tell(OrderChange("placed", order))
        return order

    def cancel(self, order_id: str) -> Order:
        """Cancel an order that has not shipped; InvalidStateChange says why otherwise."""
        order = self.get(order_id)
        self._refuse_change(order, "cancelled")
        self._store.update(order.id, {"status": "cancelled"}, "cancelled", "", self.today())
        logger.info("Order %s cancelled", order.id)
        return self.get(order.id)

    def change_address(self, order_id: str, address: str) -> Order:
        """Deliver an unshipped order to ``address``; InvalidAddress, InvalidStateChange."""
        order = self.get(order_id)
        cleaned = clean_address(address)
        self._refuse_change(order, "re-addressed")
        self._store.update(
            order.id,
            {"address": cleaned},
            "address_changed",
            f"from: {order.address}",
            self.today(),
        )
        logger.info("Order %s re-addressed", order.id)
        return self.get(order.id)

    def can_change(self, order: Order) -> str | None:
        """None when ``order`` can still be cancelled or re-addressed, else why not."""
        return change_refusal(order)

    def products(
        self, category: Category | None = None, budget: Budget | None = None, limit: int = 3
    ) -> list[Product]:
        """Catalogue products of ``category`` within ``budget``, dearest first."""
        found = [
            p
            for p in self._store.products()
            if (category is None or p.category == category)
            and (budget is None or budget.admits(p.price))
        ]
        return sorted(found, key=lambda p: p.price, reverse=True)[:limit]

    def history(self, order_id: str) -> list[tuple[str, str]]:
        """Changes made to an order through the service, oldest first: (kind, detail)."""
        return self._store.events(normalize_order_id(order_id))

    @staticmethod
    def _refuse_change(order: Order, change: str) -> None:
        code = change_refusal(order)
        if code is not None:
            raise InvalidStateChange(
                f"order {order.id} is {order.status} and cannot be {change} any more", code
            )
