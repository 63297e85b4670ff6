"""The user-item matrix every model learns from, with live per-user updates between fits."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]

from bot.recommend._types import CatalogueItem, Event, event_weight

logger = logging.getLogger(__name__)

# scipy ships no type information: a CSR matrix is typed as Any.
Matrix = Any


@dataclass
class Interactions:
    """Users × items: implicit weights (``weights``) and explicit ratings (``ratings``, 0 = none).

    Items are the catalogue's plus any seen in events, so items nobody touched yet (cold items)
    have a column too. ``live`` holds what each user did after the last fit; models read a user's
    history through :meth:`history`, so a new event changes that user's next recommendations
    without retraining.
    """

    users: list[str]
    items: list[str]
    weights: Matrix
    ratings: Matrix
    catalogue: dict[str, CatalogueItem] = field(default_factory=dict)
    live: dict[int, dict[int, float]] = field(default_factory=lambda: defaultdict(dict))
    user_index: dict[str, int] = field(init=False)
    item_index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.user_index = {u: i for i, u in enumerate(self.users)}
        self.item_index = {t: i for i, t in enumerate(self.items)}
        # Events arrive on storage threads while recommendations read on others.
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]
        state["live"] = {row: dict(items) for row, items in self.live.items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.live = defaultdict(dict, state["live"])
        self._lock = threading.Lock()

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.users), len(self.items)

    def history(self, user: str) -> tuple[np.ndarray, np.ndarray]:
        """Item indices and positive weights of what ``user`` did, fitted and live together."""
        merged: dict[int, float] = {}
        row = self.user_index.get(user)
        if row is not None:
            start, end = self.weights.indptr[row], self.weights.indptr[row + 1]
            merged = dict(
                zip(
                    self.weights.indices[start:end].tolist(),
                    self.weights.data[start:end].tolist(),
                    strict=True,
                )
            )
            with self._lock:
                live = list(self.live.get(row, {}).items())
            for item, weight in live:
                merged[item] = merged.get(item, 0.0) + weight
        kept = {i: w for i, w in merged.items() if w > 0}
        indices = np.fromiter(kept.keys(), dtype=np.int64, count=len(kept))
        values = np.fromiter(kept.values(), dtype=np.float32, count=len(kept))
        return indices, values

    def add(self, user: str, item: str, weight: float) -> bool:
        """Record a live event's weight for ``user``; False when the item is unknown."""
        column = self.item_index.get(item)
        if column is None:
            return False
        with self._lock:
            row = self.user_index.get(user)
            if row is None:
                # A user first seen after the fit: registered so later events find the same row.
                row = len(self.users)
                self.users.append(user)
                self.user_index[user] = row
                self.weights.resize((len(self.users), len(self.items)))
                self.ratings.resize((len(self.users), len(self.items)))
            self.live[row][column] = self.live[row].get(column, 0.0) + weight
        return True

    def changed_since_fit(self, user: str) -> bool:
        """Whether ``user`` has live events (or was unknown) since the matrix was built."""
        row = self.user_index.get(user)
        return row is None or bool(self.live.get(row))

    def item_popularity(self) -> np.ndarray:
        """How many users interacted positively with each item."""
        return np.asarray((self.weights > 0).sum(axis=0)).ravel().astype(np.float64)


def build_interactions(
    events: Iterable[Event], catalogue: Sequence[CatalogueItem] = ()
) -> Interactions:
    """The matrix of ``events`` (weights summed per user and item; the last rating kept)."""
    items: dict[str, int] = {item.id: i for i, item in enumerate(catalogue)}
    users: dict[str, int] = {}
    weights: dict[tuple[int, int], float] = defaultdict(float)
    ratings: dict[tuple[int, int], tuple[float, float]] = {}
    for event in events:
        u = users.setdefault(event.user_id, len(users))
        i = items.setdefault(event.item_id, len(items))
        weights[u, i] += event_weight(event.kind, event.value)
        if event.kind == "rating" and event.value is not None:
            at = event.at.timestamp()
            if (u, i) not in ratings or ratings[u, i][0] <= at:
                ratings[u, i] = (at, event.value)
    shape = (len(users), len(items))
    return Interactions(
        users=list(users),
        items=list(items),
        weights=_csr({k: max(v, 0.0) for k, v in weights.items()}, shape),
        ratings=_csr({k: v[1] for k, v in ratings.items()}, shape),
        catalogue={item.id: item for item in catalogue},
    )


def from_triples(
    users: Sequence[str],
    items: Sequence[str],
    triples: Iterable[tuple[int, int, float]],
    catalogue: Mapping[str, CatalogueItem] | None = None,
) -> Interactions:
    """A matrix of explicit ratings given as (user index, item index, rating) triples."""
    cells = {(u, i): r for u, i, r in triples}
    shape = (len(users), len(items))
    ratings = _csr(cells, shape)
    weights = _csr({k: event_weight("rating", r) for k, r in cells.items()}, shape)
    return Interactions(list(users), list(items), weights, ratings, dict(catalogue or {}))


def _csr(cells: Mapping[tuple[int, int], float], shape: tuple[int, int]) -> Matrix:
    if not cells:
        return sparse.csr_matrix(shape, dtype=np.float32)
    keys = np.array(list(cells.keys()), dtype=np.int64)
    values = np.array(list(cells.values()), dtype=np.float32)
    matrix = sparse.csr_matrix((values, (keys[:, 0], keys[:, 1])), shape=shape, dtype=np.float32)
    matrix.eliminate_zeros()
    return matrix
