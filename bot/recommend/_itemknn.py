"""Item-item collaborative filtering: cosine similarity of item columns, top neighbours kept."""

from __future__ import annotations

import logging

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]

from bot.recommend._base import Recommender, because_reason, strongest_link
from bot.recommend._interactions import Interactions
from bot.recommend._types import Reason

logger = logging.getLogger(__name__)


class ItemKNNModel(Recommender):
    """Scores an item by the similarity-weighted history of the user (cosine on the matrix)."""

    name = "itemknn"

    def __init__(self, neighbours: int = 100, shrink: float = 10.0) -> None:
        super().__init__()
        self.neighbours = neighbours
        self.shrink = shrink
        self._similarity = sparse.csr_matrix((0, 0))

    def _fit(self, interactions: Interactions) -> None:
        binary = (interactions.weights > 0).astype(np.float32).tocsc()
        norms = np.sqrt(np.asarray(binary.multiply(binary).sum(axis=0)).ravel())
        co = (binary.T @ binary).tocsr().astype(np.float32)
        co.setdiag(0)
        co.eliminate_zeros()
        # Cosine with a shrink term: pairs seen together by few users count less.
        pairs = co.tocoo()
        rows, cols = pairs.row, pairs.col
        values = pairs.data / (norms[rows] * norms[cols] + self.shrink)
        similarity = sparse.csr_matrix((values, (rows, cols)), shape=co.shape, dtype=np.float32)
        self._similarity = _keep_top(similarity, self.neighbours)

    def user_scores(self, user: str) -> np.ndarray | None:
        indices, weights = self.data.history(user)
        if indices.size == 0:
            return None
        # Each history item lends its nearest neighbours its (damped) weight times the similarity.
        neighbours = self._similarity[indices]
        return np.asarray(neighbours.T @ np.log1p(weights)).ravel()

    def item_scores(self, item: str) -> np.ndarray | None:
        index = self.data.item_index.get(item)
        if index is None:
            return None
        return np.asarray(self._similarity[index].todense()).ravel()

    def explain(self, user: str, item: str) -> Reason:
        index = self.data.item_index.get(item)
        if index is None:
            return because_reason(self.name, None, None)

        def neighbour_weight(history: np.ndarray) -> np.ndarray:
            # Row slices only: a column of a CSR matrix would scan the whole matrix.
            return np.asarray(self._similarity[history][:, [index]].todense()).ravel()

        link = strongest_link(self.data, user, neighbour_weight)
        if link is None:
            return because_reason(self.name, None, None)
        return because_reason(self.name, self.item_name(link, "zh"), self.item_name(link, "en"))


def _keep_top(matrix: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Each row's ``k`` largest entries (the item's nearest neighbours)."""
    rows, cols, values = [], [], []
    for r in range(matrix.shape[0]):
        start, end = matrix.indptr[r], matrix.indptr[r + 1]
        if start == end:
            continue
        data = matrix.data[start:end]
        keep = np.argpartition(-data, min(k, data.size) - 1)[:k] if data.size > k else slice(None)
        cols.append(matrix.indices[start:end][keep])
        values.append(data[keep])
        rows.append(np.full(len(values[-1]), r))
    if not rows:
        return sparse.csr_matrix(matrix.shape, dtype=np.float32)
    return sparse.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
        shape=matrix.shape,
        dtype=np.float32,
    )
