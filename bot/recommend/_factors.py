"""Matrix factorisation: implicit ALS and BPR (the ``implicit`` library) and PureSVD (scipy).

Users are represented by folding their history into the learned item factors, so a new event
changes that user's next recommendations without retraining, and users first seen after the fit
get a vector too.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.sparse.linalg import svds  # type: ignore[import-untyped]
from threadpoolctl import threadpool_limits

from bot.recommend._base import Recommender, because_reason, strongest_link
from bot.recommend._interactions import Interactions
from bot.recommend._types import Reason

logger = logging.getLogger(__name__)


class FactorModel(Recommender):
    """Item factors ``Y``; a user's vector solves the implicit-ALS normal equations on ``Y``."""

    def __init__(self, factors: int, regularization: float, alpha: float) -> None:
        super().__init__()
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self._items = np.zeros((0, 0), dtype=np.float32)
        self._users = np.zeros((0, 0), dtype=np.float32)
        self._gram = np.zeros((0, 0))
        self._norms = np.zeros(0, dtype=np.float32)

    def _set_factors(self, users: np.ndarray, items: np.ndarray) -> None:
        self._users = np.ascontiguousarray(users, dtype=np.float32)
        self._items = np.ascontiguousarray(items, dtype=np.float32)
        self._gram = self._items.T.astype(np.float64) @ self._items
        self._norms = np.linalg.norm(self._items, axis=1) + 1e-9

    def user_vector(self, user: str) -> np.ndarray | None:
        """The fitted vector, or one folded in from the user's history when it changed."""
        data = self.data
        if not data.changed_since_fit(user):
            return np.asarray(self._users[data.user_index[user]])
        indices, weights = data.history(user)
        if indices.size == 0:
            return None
        return self.fold_in(indices, weights)

    def fold_in(self, indices: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Least-squares user vector for confidences ``1 + alpha * weight`` on the given items."""
        chosen = self._items[indices].astype(np.float64)
        confidence = self.alpha * weights.astype(np.float64)
        a = self._gram + (chosen.T * confidence) @ chosen
        a += self.regularization * np.eye(a.shape[0])
        b = chosen.T @ (1.0 + confidence)
        return np.linalg.solve(a, b).astype(np.float32)

    def user_scores(self, user: str) -> np.ndarray | None:
        vector = self.user_vector(user)
        return None if vector is None else self._items @ vector

    def item_scores(self, item: str) -> np.ndarray | None:
        index = self.data.item_index.get(item)
        if index is None:
            return None
        norms = self._norms
        return np.asarray((self._items @ self._items[index]) / (norms * norms[index]))

    def explain(self, user: str, item: str) -> Reason:
        index = self.data.item_index.get(item)
        if index is None:
            return because_reason(self.name, None, None)
        target = self._items[index] / self._norms[index]

        def cosine(history: np.ndarray) -> np.ndarray:
            return np.asarray((self._items[history] @ target) / self._norms[history])

        link = strongest_link(self.data, user, cosine)
        if link is None:
            return because_reason(self.name, None, None)
        return because_reason(self.name, self.item_name(link, "zh"), self.item_name(link, "en"))


class ALSModel(FactorModel):
    """Implicit-feedback ALS (Hu, Koren, Volinsky 2008) from the ``implicit`` library."""

    name = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        threads: int = 2,
        seed: int = 42,
    ) -> None:
        super().__init__(factors, regularization, alpha)
        self.iterations = iterations
        self.threads = threads
        self.seed = seed

    def _fit(self, interactions: Interactions) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        # implicit's own threads do the work; BLAS threads on top of them only contend.
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                num_threads=self.threads,
                random_state=self.seed,
            )
            model.fit(interactions.weights, show_progress=False)
        self._set_factors(model.user_factors, model.item_factors)


class BPRModel(FactorModel):
    """Bayesian personalised ranking (Rendle et al. 2009) from the ``implicit`` library."""

    name = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        threads: int = 2,
        seed: int = 42,
    ) -> None:
        # Fold-in for new events reuses the ALS solve on BPR's item factors (alpha 1, ridge 1).
        super().__init__(factors, 1.0, 1.0)
        self.learning_rate = learning_rate
        self.bpr_regularization = regularization
        self.iterations = iterations
        self.threads = threads
        self.seed = seed

    def _fit(self, interactions: Interactions) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=self.factors,
                learning_rate=self.learning_rate,
                regularization=self.bpr_regularization,
                iterations=self.iterations,
                num_threads=self.threads,
                random_state=self.seed,
            )
            model.fit((interactions.weights > 0).astype(np.float32).tocsr(), show_progress=False)
        self._set_factors(model.user_factors, model.item_factors)


class SVDModel(FactorModel):
    """PureSVD on explicit ratings (Cremonesi et al. 2010): truncated SVD of the rating matrix.

    A user's vector is their rating row projected on the item factors (``r V``), which is the
    exact fold-in of truncated SVD and needs no solve, so it is always computed from the history.
    """

    name = "svd"

    def __init__(self, factors: int = 32) -> None:
        super().__init__(factors, 0.0, 0.0)

    def _fit(self, interactions: Interactions) -> None:
        # Data with no ratings (clicks, purchases only) factorises the implicit weights instead.
        matrix = interactions.ratings if interactions.ratings.nnz else interactions.weights
        rank = max(1, min(self.factors, min(matrix.shape) - 1))
        with threadpool_limits(1, "blas"):
            _u, _s, vt = svds(matrix.astype(np.float64), k=rank, random_state=0)
        items = vt.T.astype(np.float32)
        self._explicit = interactions.ratings.nnz > 0
        self._set_factors(np.zeros((matrix.shape[0], rank), np.float32), items)

    def user_vector(self, user: str) -> np.ndarray | None:
        data = self.data
        row = data.user_index.get(user)
        indices, weights = data.history(user)
        if indices.size == 0:
            return None
        values = weights
        if self._explicit and row is not None:
            # Fitted ratings as they were; live events add their implicit weight as a rating.
            ratings = data.ratings[row].toarray().ravel()
            values = np.where(ratings[indices] > 0, ratings[indices], weights)
        return np.asarray(values.astype(np.float32) @ self._items[indices])
