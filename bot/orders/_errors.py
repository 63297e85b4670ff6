"""Errors of the orders module; actions map each to a reply in the customer's language."""

from __future__ import annotations


class OrdersError(Exception):
    """Base class of order store errors."""


class InvalidOrderId(OrdersError, ValueError):
    """The text is not an order id ("YX" and 10 digits, prefix, spaces and case optional)."""


class OrderNotFound(OrdersError, LookupError):
    """No order has this id."""


class InvalidStateChange(OrdersError):
    """The order cannot make the change asked for in its current state; ``code`` says why."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidAddress(OrdersError, ValueError):
    """A new delivery address is empty, too short or too long."""


class InvalidOrder(OrdersError, ValueError):
    """A new order names an unknown customer or product, or a quantity out of range."""


class FixturesError(OrdersError):
    """The fixtures file the store is seeded from is missing or malformed."""
