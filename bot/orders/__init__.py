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
from bot.orders._offering import UNSUPPORTED_SERVICES, UnsupportedService, unsupported_service
from bot.orders._policy import (
    ADDRESS_CHARS,
    MAX_PHONE_ATTEMPTS,
    NO_REASON_DAYS,
    NO_REASON_SHIPPING_FEE,
    QUALITY_DAYS,
    clean_address,
    may_see,
)
from bot.orders._service import FIXTURES, OrderService
from bot.orders._text import (
    ORDER_ID_PATTERN,
    address_given,
    asks_other_address,
    classify_return_reason,
    names_wrong_order,
    normalize_order_id,
    order_ids_in,
    parse_budget,
    phone_answer_from,
    phone_last4_from,
)

__all__ = [
    "ADDRESS_CHARS",
    "CATEGORIES",
    "FIXTURES",
    "MAX_PHONE_ATTEMPTS",
    "NO_REASON_DAYS",
    "NO_REASON_SHIPPING_FEE",
    "ORDER_ID_PATTERN",
    "ORDER_STATUSES",
    "QUALITY_DAYS",
    "UNSUPPORTED_SERVICES",
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
    "UnsupportedService",
    "address_given",
    "asks_other_address",
    "carrier_name",
    "classify_return_reason",
    "clean_address",
    "may_see",
    "names_wrong_order",
    "normalize_order_id",
    "order_ids_in",
    "parse_budget",
    "phone_answer_from",
    "phone_last4_from",
    "unsupported_service",
]
