"""A weighted blend of several models; the model that contributed most gives the reason."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from bot.recommend._base import Recommender
from bot.recommend._interactions import Interactions
from bot.recommend._types import Reason

logger = logging.getLogger(__name__)


def standardize(scores: np.ndarray) -> np.ndarray:
    """Scores on one scale across models: z-scores of the finite ones, the rest at the minimum."""
    finite = np.isfinite(scores)
    if not finite.any():
        return np.zeros_like(scores, dtype=np.float64)
    values = scores[finite].astype(np.float64)
    spread = float(values.std()) or 1.0
    z = (scores.astype(np.float64) - float(values.mean())) / spread
    return np.where(finite, z, float(z[finite].min()))


class HybridModel(Recommender):
    """Σ weight × standardized score over member models that know the user."""

    name = "hybrid"

    def __init__(self, members: Sequence[tuple[Recommender, float]], fit_members: bool = True):
        super().__init__()
        self.members = list(members)
        self.fit_members = fit_members

    def _fit(self, interactions: Interactions) -> None:
        if self.fit_members:
            for model, _weight in self.members:
                model.fit(interactions)

    def breakdown(self, user: str) -> dict[str, np.ndarray]:
        """Each member's weighted, standardized scores for every item (members that know them)."""
        parts: dict[str, np.ndarray] = {}
        for model, weight in self.members:
            scores = model.user_scores(user)
            if scores is not None and weight:
                parts[model.name] = weight * standardize(scores)
        return parts

    def user_scores(self, user: str) -> np.ndarray | None:
        parts = self.breakdown(user)
        return None if not parts else np.sum(list(parts.values()), axis=0)

    def item_scores(self, item: str) -> np.ndarray | None:
        parts = [
            weight * standardize(scores)
            for model, weight in self.members
            if weight and (scores := model.item_scores(item)) is not None
        ]
        return None if not parts else np.sum(parts, axis=0)

    def explain(self, user: str, item: str) -> Reason:
        index = self.data.item_index.get(item)
        parts = self.breakdown(user)
        if index is None or not parts:
            return self.members[0][0].explain(user, item)
        leader = max(parts, key=lambda name: float(parts[name][index]))
        model = next(m for m, _w in self.members if m.name == leader)
        return model.explain(user, item)
