"""Trigger facts of a customer, read as segment fields so a triggered campaign (its segment
re-read on every run, each new member reached once) fires on them: an abandoned cart, the
first purchase, the birthday. Computed from the recommendation module's events (its public
service) and the month-day the shop imported; the churn risk comes from the insights scores."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from bot.marketing._errors import InvalidMarketingRequest
from bot.marketing._limits import zone
from bot.recommend import Event

# PIPL: the month and day only (no year), which is all a birthday greeting needs.
BIRTHDAY = re.compile(r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True)
class TriggerFacts:
    """What the triggers see of one customer (None: it never happened / is unknown)."""

    purchases: int = 0
    days_since_first_purchase: float | None = None
    cart_abandoned_hours: float | None = None
    days_to_birthday: int | None = None


def check_birthday(birthday: str) -> None:
    """Refuse a birthday that is not a real month-day "MM-DD" (29 February included)."""
    found = BIRTHDAY.fullmatch(birthday)
    if found is None or int(found.group(2)) > _DAYS_IN_MONTH[int(found.group(1)) - 1]:
        raise InvalidMarketingRequest(
            f"birthday must be a month-day like '03-28' (no year is kept), not {birthday!r}"
        )


def trigger_facts(events: list[Event], birthday: str, timezone: str, now: datetime) -> TriggerFacts:
    """The customer's trigger facts at ``now`` (events after ``now`` are not seen yet)."""
    seen = [e for e in events if e.at <= now]
    bought = [e for e in seen if e.kind == "purchase"]
    first = min((e.at for e in bought), default=None)
    return TriggerFacts(
        purchases=len(bought),
        days_since_first_purchase=(now - first).total_seconds() / 86400 if first else None,
        cart_abandoned_hours=_abandoned_hours(seen, now),
        days_to_birthday=days_to_birthday(birthday, timezone, now) if birthday else None,
    )


def _abandoned_hours(events: list[Event], now: datetime) -> float | None:
    """Hours since the latest cart event of an item the customer has not bought since."""
    latest = None
    for cart in (e for e in events if e.kind == "cart"):
        bought_since = any(
            e.kind == "purchase" and e.item_id == cart.item_id and e.at >= cart.at for e in events
        )
        if not bought_since and (latest is None or cart.at > latest):
            latest = cart.at
    return (now - latest).total_seconds() / 3600 if latest is not None else None


def days_to_birthday(birthday: str, timezone: str, now: datetime) -> int:
    """Whole days from the customer's local today to the next birthday (0: today). A 29 February
    birthday falls on 28 February in common years."""
    check_birthday(birthday)
    today = now.astimezone(zone(timezone)).date()
    month, day = (int(part) for part in birthday.split("-"))
    for year in (today.year, today.year + 1):
        on = _on(year, month, day)
        if on >= today:
            return (on - today).days
    raise AssertionError("a birthday comes every year")  # unreachable: next year's is later


def _on(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:  # 29 February in a common year
        return date(year, month, day - 1)
