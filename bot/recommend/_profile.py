"""User profiles: category and price-band affinity, recency/frequency/monetary value, language.

One rule, one place: how an event changes a profile. Affinities are the share of a customer's
positive event weight that went to each category and price band; returns subtract.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.recommend._tables import ProfileRow
from bot.recommend._types import CatalogueItem, Event, UserProfile, event_weight

logger = logging.getLogger(__name__)

# Price bands in yuan: (name, lowest price in the band); each band runs to the next one's floor.
PRICE_BANDS: tuple[tuple[str, float], ...] = (
    ("budget", 0.0),
    ("mid", 100.0),
    ("premium", 1000.0),
    ("luxury", 5000.0),
)


def price_band(price: float) -> str:
    """The name of the band ``price`` falls in."""
    name = PRICE_BANDS[0][0]
    for band, floor in PRICE_BANDS:
        if price >= floor:
            name = band
    return name


def apply_event(
    row: ProfileRow, event: Event, item: CatalogueItem | None, language: str | None
) -> None:
    """Fold one event into the stored profile ``row``."""
    weight = event_weight(event.kind, event.value)
    if item is not None:
        row.category_weights = _bump(row.category_weights, item.category, weight)
        row.price_band_weights = _bump(row.price_band_weights, price_band(item.price), weight)
        if event.kind == "purchase":
            row.purchases = (row.purchases or 0) + 1
            row.monetary = (row.monetary or 0.0) + item.price
        elif event.kind == "return":
            row.monetary = max(0.0, (row.monetary or 0.0) - item.price)
    if event.kind == "purchase" and (
        row.last_purchase_at is None or event.at > row.last_purchase_at
    ):
        row.last_purchase_at = event.at
    if row.last_event_at is None or event.at > row.last_event_at:
        row.last_event_at = event.at
    row.events = (row.events or 0) + 1
    if language:
        row.language = language


def _bump(weights: dict[str, float] | None, key: str, weight: float) -> dict[str, float]:
    # A new dict: SQLAlchemy notices a replaced JSON value, not one changed in place.
    updated = dict(weights or {})
    updated[key] = max(0.0, float(updated.get(key, 0.0)) + weight)
    return updated


def view(row: ProfileRow, now: datetime) -> UserProfile:
    """The profile as plain data; affinities as shares summing to 1."""
    recency = None
    if row.last_purchase_at is not None:
        recency = round((now - row.last_purchase_at).total_seconds() / 86400, 2)
    return UserProfile(
        user_id=row.user_id,
        category_affinity=_shares(row.category_weights),
        price_band_affinity=_shares(row.price_band_weights),
        recency_days=recency,
        frequency=row.purchases or 0,
        monetary=round(row.monetary or 0.0, 2),
        language=row.language,
        events=row.events or 0,
        last_event_at=row.last_event_at,
    )


def _shares(weights: dict[str, float] | None) -> dict[str, float]:
    total = sum(float(v) for v in (weights or {}).values())
    if total <= 0:
        return {}
    ordered = sorted((weights or {}).items(), key=lambda kv: -float(kv[1]))
    return {key: round(float(value) / total, 4) for key, value in ordered if float(value) > 0}
