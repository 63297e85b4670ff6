"""The shop's rules for returns, cancellations and address changes: pure functions of an order."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from bot.orders._errors import InvalidAddress
from bot.orders._models import Order, ReturnEligibility, ReturnKind

NO_REASON_DAYS = 7
QUALITY_DAYS = 15
NO_REASON_SHIPPING_FEE = 10  # yuan, deducted from the refund
FREE_RETURN_TIERS = frozenset({"gold", "platinum"})
BEFORE_SHIPPING = frozenset({"pending_payment", "paid"})
RETURN_STATUSES = frozenset({"return_requested", "returned", "refunded"})
ADDRESS_CHARS = (6, 200)
# Wrong phone endings a customer may give for one order before the bot stops asking and offers
# a human: enough for a typo or two, too few to guess four digits.
MAX_PHONE_ATTEMPTS = 3
# Wrong phone endings one conversation may give over all the order ids it tries: someone walking
# through order ids three guesses at a time is stopped after two ids.
MAX_PHONE_FAILURES = 6
# Wrong phone endings for one order over every conversation in a day: a customer who mistypes in
# two chats is still served, someone opening new chats to go on guessing gets five tries a day
# (one chance in two thousand) before only a human can help.
MAX_PHONE_ATTEMPTS_PER_DAY = 5


def may_see(order: Order, customer_id: str | None, verified_orders: Iterable[str] = ()) -> bool:
    """Whether the sender may see ``order``: it is theirs (the channel vouches for
    ``customer_id``), or they gave its phone's last four digits (``verified_orders``)."""
    return (customer_id is not None and order.customer_id == customer_id) or (
        order.id in set(verified_orders)
    )


def clean_address(text: str) -> str:
    """A delivery address with its whitespace tidied; InvalidAddress when too short or long."""
    cleaned = " ".join(text.split())
    low, high = ADDRESS_CHARS
    if not low <= len(cleaned) <= high:
        raise InvalidAddress(
            f"a delivery address needs {low} to {high} characters (city, district, street and "
            f"number), got {len(cleaned)}"
        )
    return cleaned


def return_eligibility(order: Order, kind: ReturnKind, today: date) -> ReturnEligibility:
    """Whether ``order`` may be returned today for a reason of ``kind``, and on which terms."""

    def decision(code: str, deadline: date | None = None, fee: int = 0) -> ReturnEligibility:
        return ReturnEligibility(order.id, kind, code, order.delivered_on, deadline, fee)

    if order.status == "cancelled":
        return decision("cancelled")
    if order.status in RETURN_STATUSES:
        return decision("already_returning")
    if order.delivered_on is None or order.status not in {"delivered", "completed"}:
        return decision("not_delivered")
    age = (today - order.delivered_on).days
    quality_deadline = order.delivered_on + timedelta(days=QUALITY_DAYS)
    if age > QUALITY_DAYS:
        return decision("window_passed", quality_deadline)
    if kind == "quality":
        return decision("eligible", quality_deadline)
    deadline = order.delivered_on + timedelta(days=NO_REASON_DAYS)
    if any(item.product.kind != "normal" for item in order.items):
        return decision("item_excluded", deadline)
    if age > NO_REASON_DAYS:
        return decision("no_reason_window_passed", deadline)
    fee = 0 if order.customer_tier in FREE_RETURN_TIERS else NO_REASON_SHIPPING_FEE
    return decision("eligible", deadline, fee)


def change_refusal(order: Order) -> str | None:
    """Why ``order`` can no longer be cancelled or re-addressed, or None when it can.

    "after_shipping" (refuse the delivery or return it instead), "cancelled" or "in_return".
    """
    if order.status in BEFORE_SHIPPING:
        return None
    if order.status == "cancelled":
        return "cancelled"
    if order.status in RETURN_STATUSES:
        return "in_return"
    return "after_shipping"
