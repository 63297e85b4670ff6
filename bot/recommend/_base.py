"""The one interface every model implements: fit, recommend, similar items, explain."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from bot.recommend._errors import NotFitted
from bot.recommend._interactions import Interactions
from bot.recommend._types import Reason

logger = logging.getLogger(__name__)

_controller: ThreadpoolController | None = None


def one_blas_thread() -> Any:
    """A context in which BLAS runs on one thread. Serving does one matrix-vector product per
    request: BLAS's thread pool costs more than it saves there, worst on a busy host (measured
    at 100,000 items x 64 factors: 16 ms p50 with the pool, 1.1 ms without)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


@dataclass(frozen=True)
class Scored:
    """An item id and a model's score for it (higher is better)."""

    item: str
    score: float


class Recommender(ABC):
    """A model over one :class:`Interactions`; scores every item for a user at once."""

    name: str

    def __init__(self) -> None:
        self._data: Interactions | None = None

    @property
    def data(self) -> Interactions:
        if self._data is None:
            raise NotFitted(f"model '{self.name}' is not fitted; call fit(interactions) first")
        return self._data

    def fit(self, interactions: Interactions) -> None:
        """Learn from ``interactions`` (replaces what was learned before)."""
        self._data = interactions
        self._fit(interactions)

    @abstractmethod
    def _fit(self, interactions: Interactions) -> None: ...

    @abstractmethod
    def user_scores(self, user: str) -> np.ndarray | None:
        """A score for every item for ``user``; None when the model knows nothing about them."""

    @abstractmethod
    def item_scores(self, item: str) -> np.ndarray | None:
        """How similar every item is to ``item``; None for an unknown item."""

    @abstractmethod
    def explain(self, user: str, item: str) -> Reason:
        """Why this model would recommend ``item`` to ``user``, in zh and en."""

    def recommend(self, user: str, k: int, exclude: Collection[str] = ()) -> list[Scored]:
        """The ``k`` best items for ``user`` other than ``exclude`` (empty when unknown)."""
        with one_blas_thread():
            scores = self.user_scores(user)
            return [] if scores is None else self._top(scores, k, exclude)

    def similar(self, item: str, k: int) -> list[Scored]:
        """The ``k`` items most like ``item``, itself left out."""
        scores = self.item_scores(item)
        return [] if scores is None else self._top(scores, k, (item,))

    def _top(self, scores: np.ndarray, k: int, exclude: Collection[str]) -> list[Scored]:
        return top_k(self.data, scores, k, exclude)

    def item_name(self, item: str, language: str) -> str:
        found = self.data.catalogue.get(item)
        return found.name(language) if found else item


def top_k(data: Interactions, scores: np.ndarray, k: int, exclude: Collection[str]) -> list[Scored]:
    """The ``k`` highest finite scores, best first, leaving out ``exclude``."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    for item in exclude:
        index = data.item_index.get(item)
        if index is not None:
            scores[index] = -np.inf
    k = min(k, int(np.isfinite(scores).sum()))
    if k <= 0:
        return []
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [Scored(data.items[i], float(scores[i])) for i in best]


def strongest_link(
    data: Interactions, user: str, similarity: Callable[[np.ndarray], np.ndarray]
) -> str | None:
    """The item in ``user``'s history that most supports an item; ``similarity(indices)`` gives
    the candidate's similarity to those history items (computed for the history only)."""
    indices, weights = data.history(user)
    if indices.size == 0:
        return None
    contribution = np.asarray(similarity(indices)).ravel() * weights
    best = int(np.argmax(contribution))
    return data.items[int(indices[best])] if contribution[best] > 0 else None


def because_reason(model: str, name_zh: str | None, name_en: str | None) -> Reason:
    """ "Because you liked X" when a history item explains it, else a general personal reason."""
    if name_zh and name_en:
        return Reason(model, f"因为您喜欢过「{name_zh}」", f"Because you liked {name_en}")
    return Reason(model, "根据您的浏览和购买记录推荐", "Picked from what you viewed and bought")
