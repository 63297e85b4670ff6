"""Popularity: the floor every model must beat, and the answer for customers we know nothing of."""

from __future__ import annotations

import logging

import numpy as np

from bot.recommend._base import Recommender
from bot.recommend._interactions import Interactions
from bot.recommend._types import Reason

logger = logging.getLogger(__name__)

# The demo shop's category codes in words; a shop's own codes are shown as they are.
CATEGORY_NAMES = {
    "electronics": ("数码电子", "electronics"),
    "home_appliances": ("家用电器", "home appliances"),
    "clothing": ("服装鞋帽", "clothing"),
    "beauty": ("美妆个护", "beauty"),
    "books": ("图书", "books"),
    "food": ("食品", "food"),
}


class PopularityModel(Recommender):
    """Items ranked by how many customers chose them; optionally within one category."""

    name = "popularity"

    def __init__(self, category: str | None = None) -> None:
        super().__init__()
        self.category = category
        self._scores = np.zeros(0)

    def _fit(self, interactions: Interactions) -> None:
        scores = interactions.item_popularity()
        if self.category is not None:
            for index, item in enumerate(interactions.items):
                found = interactions.catalogue.get(item)
                if found is None or found.category != self.category:
                    scores[index] = -np.inf
        self._scores = scores

    def user_scores(self, user: str) -> np.ndarray | None:
        # Unknown customers included: this is the cold-start answer.
        return self._scores

    def item_scores(self, item: str) -> np.ndarray | None:
        if item not in self.data.item_index:
            return None
        found = self.data.catalogue.get(item)
        if found is None:
            return self._scores
        same = np.array(
            [
                (c := self.data.catalogue.get(t)) is not None and c.category == found.category
                for t in self.data.items
            ]
        )
        return np.where(same, self._scores, -np.inf)

    def explain(self, user: str, item: str) -> Reason:
        found = self.data.catalogue.get(item)
        if found is None:
            return Reason(self.name, "最受欢迎的商品之一", "One of our most popular items")
        zh, en = CATEGORY_NAMES.get(found.category, (found.category, found.category))
        return Reason(self.name, f"{zh}类热销商品", f"Popular in {en}")
