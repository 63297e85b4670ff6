"""The demo shop's orders: a SQLite store seeded from fixtures, the return policy, and the
service custom actions call. Plain data crosses the border; rules live in ``_policy``."""

from bot.orders._errors import (
    FixturesError,
    InvalidAddress,
    InvalidOrderId,
    InvalidStateChange,
    OrderNotFound,
    OrdersError,
)
from bot.orders._labels import carrier_name
from bot.orders._models import (
    CATEGORIES,
    ORDER_STATUSES,
    Budget,
    Category,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    ReturnEligibility,
    ReturnKind,
)
from bot.orders._policy import NO_REASON_DAYS, NO_REASON_SHIPPING_FEE, QUALITY_DAYS
from bot.orders._service import FIXTURES, OrderService
from bot.orders._text import (
    classify_return_reason,
    normalize_order_id,
    parse_budget,
    phone_last4_from,
)

__all__ = [
    "CATEGORIES",
    "FIXTURES",
    "NO_REASON_DAYS",
    "NO_REASON_SHIPPING_FEE",
    "ORDER_STATUSES",
    "QUALITY_DAYS",
    "Budget",
    "Category",
    "FixturesError",
    "InvalidAddress",
    "InvalidOrderId",
    "InvalidStateChange",
    "Order",
    "OrderItem",
    "OrderNotFound",
    "OrderService",
    "OrderStatus",
    "OrdersError",
    "Product",
    "ReturnEligibility",
    "ReturnKind",
    "carrier_name",
    "classify_return_reason",
    "normalize_order_id",
    "parse_budget",
    "phone_last4_from",
]
