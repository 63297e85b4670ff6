"""After ranking: business filters (stock, budget, category, bought, returned) and MMR diversity."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence

import numpy as np

from bot.recommend._base import Scored
from bot.recommend._types import CatalogueItem, Filters

logger = logging.getLogger(__name__)


def passes(
    item: CatalogueItem | None,
    filters: Filters,
    bought: Collection[str],
    returned: Collection[str],
) -> bool:
    """Whether ``item`` may be shown under ``filters`` to a customer who bought/returned these."""
    if item is None or item.id in filters.exclude:
        return False
    if filters.in_stock_only and item.stock is not None and item.stock <= 0:
        return False
    if filters.category is not None and item.category != filters.category:
        return False
    if filters.budget_low is not None and item.price < filters.budget_low:
        return False
    if filters.budget_high is not None and item.price > filters.budget_high:
        return False
    if filters.exclude_bought and item.id in bought:
        return False
    return not (filters.exclude_returned and item.id in returned)


def mmr(
    ranked: Sequence[Scored],
    similarity: Callable[[str, str], float],
    k: int,
    trade_off: float = 0.7,
) -> list[Scored]:
    """Maximal marginal relevance (Carbonell & Goldstein 1998): relevance minus redundancy.

    ``trade_off`` 1.0 keeps the ranking as it is; lower values favour items unlike those chosen.
    Relevance is the rank-order score rescaled to 0…1 so it is comparable to a cosine.
    """
    if not ranked:
        return []
    scores = np.array([s.score for s in ranked], dtype=np.float64)
    low, high = float(scores.min()), float(scores.max())
    relevance = (scores - low) / (high - low) if high > low else np.ones_like(scores)
    chosen: list[int] = []
    left = list(range(len(ranked)))
    while left and len(chosen) < k:
        best, best_value = left[0], -np.inf
        for i in left:
            redundancy = max(
                (similarity(ranked[i].item, ranked[j].item) for j in chosen), default=0.0
            )
            value = trade_off * relevance[i] - (1.0 - trade_off) * redundancy
            if value > best_value:
                best, best_value = i, value
        chosen.append(best)
        left.remove(best)
    return [ranked[i] for i in chosen]
