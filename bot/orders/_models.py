"""Plain data crossing the module's border: orders, their items, products, return decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

OrderStatus = Literal[
    "pending_payment",
    "paid",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
    "return_requested",
    "returned",
    "refunded",
]
ORDER_STATUSES: tuple[OrderStatus, ...] = (
    "pending_payment",
    "paid",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
    "return_requested",
    "returned",
    "refunded",
)
Category = Literal["electronics", "home_appliances", "clothing", "beauty", "books", "food"]
CATEGORIES: tuple[Category, ...] = (
    "electronics",
    "home_appliances",
    "clothing",
    "beauty",
    "books",
    "food",
)
# Kinds of goods the 7-day no-reason return excludes (they still take quality returns).
ProductKind = Literal["normal", "custom", "perishable", "digital", "underwear"]
PRODUCT_KINDS: tuple[ProductKind, ...] = ("normal", "custom", "perishable", "digital", "underwear")
Tier = Literal["regular", "silver", "gold", "platinum"]
TIERS: tuple[Tier, ...] = ("regular", "silver", "gold", "platinum")
ReturnKind = Literal["no_reason", "quality"]


@dataclass(frozen=True)
class Product:
    """A product of the catalogue; prices in yuan."""

    sku: str
    name_zh: str
    name_en: str
    category: Category
    price: int
    kind: ProductKind

    def name(self, language: str) -> str:
        """The product's name in ``language`` ("zh" or "en")."""
        return self.name_zh if language == "zh" else self.name_en


@dataclass(frozen=True)
class OrderItem:
    """One line of an order."""

    product: Product
    quantity: int


@dataclass(frozen=True)
class Order:
    """An order as the store keeps it; dates are calendar days in the shop's time zone."""

    id: str
    customer_id: str
    customer_tier: Tier
    status: OrderStatus
    placed_on: date
    shipped_on: date | None
    delivered_on: date | None
    carrier: str | None
    tracking_number: str | None
    address: str
    recipient: str
    phone: str
    items: tuple[OrderItem, ...]

    @property
    def total(self) -> int:
        """What the order costs in yuan, before shipping."""
        return sum(item.product.price * item.quantity for item in self.items)

    def item_names(self, language: str) -> str:
        """The items as one line, e.g. "Sony WH-1000XM5 headphones ×1"."""
        separator = "、" if language == "zh" else ", "
        return separator.join(f"{i.product.name(language)} ×{i.quantity}" for i in self.items)


@dataclass(frozen=True)
class ReturnEligibility:
    """Whether an order may be returned for a kind of reason, and on which terms.

    ``code`` is "eligible" or why not: "not_delivered", "cancelled", "already_returning",
    "window_passed" (past the 15-day quality window: warranty repair instead),
    "no_reason_window_passed" (past 7 days, no quality problem) or "item_excluded" (custom,
    perishable, digital or underwear items without a quality problem).
    """

    order_id: str
    kind: ReturnKind
    code: str
    delivered_on: date | None
    deadline: date | None
    shipping_fee: int

    @property
    def eligible(self) -> bool:
        """Whether a return may be requested."""
        return self.code == "eligible"


@dataclass(frozen=True)
class Budget:
    """A price range in yuan; either end may be open."""

    low: int | None
    high: int | None

    def admits(self, price: int) -> bool:
        """Whether ``price`` is inside the range."""
        return (self.low is None or price >= self.low) and (self.high is None or price <= self.high)


OrderChangeKind = Literal["returned", "placed"]


@dataclass(frozen=True)
class OrderChange:
    """What happened to an order, told to the service's listeners after it is stored
    (``returned``: the customer asked to return it; ``placed``: a new order; the order as it
    is now)."""

    kind: OrderChangeKind
    order: Order
