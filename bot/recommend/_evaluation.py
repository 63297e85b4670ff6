"""Offline evaluation: per-user random split, tuning on a validation split carved from training,
precision, recall, nDCG and MAP at k, coverage, intra-list diversity, novelty, training time.

Every interaction of a user counts as relevant (as in Microsoft Recommenders' MovieLens figures);
each user with at least two interactions keeps a random ``test_ratio`` of them for the test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]

from bot.recommend._base import Recommender
from bot.recommend._catalogue import load_catalogue
from bot.recommend._content import ContentModel, MemoEmbedder, TextEmbedder
from bot.recommend._errors import UnknownModel
from bot.recommend._events import load_events
from bot.recommend._factors import ALSModel, BPRModel, SVDModel
from bot.recommend._hybrid import HybridModel
from bot.recommend._interactions import Interactions, build_interactions
from bot.recommend._itemknn import ItemKNNModel
from bot.recommend._popularity import PopularityModel
from bot.recommend._spark import SparkALSModel
from bot.recommend._types import Reason
from bot.recommend._widedeep import WideDeepRanker

logger = logging.getLogger(__name__)

MODELS = ("itemknn", "als", "bpr", "svd", "content", "hybrid", "widedeep")
# Run only when asked for by name: Spark starts a JVM (seconds) and needs Java and pyspark.
OPTIONAL_MODELS = ("spark_als",)
BASELINES = ("popularity", "random")
# Small grids: the machine has two cores and every fit is repeated on the validation split.
GRIDS: dict[str, list[dict[str, Any]]] = {
    "itemknn": [{"neighbours": n} for n in (50, 200)],
    "als": [{"factors": f, "alpha": a} for f in (32, 64) for a in (1.0, 4.0)],
    "bpr": [{"factors": 64, "learning_rate": r} for r in (0.01, 0.05)],
    "svd": [{"factors": f} for f in (16, 32, 64)],
    "spark_als": [{"factors": f, "alpha": a} for f in (32, 64) for a in (1.0, 4.0)],
}
HYBRID_WEIGHTS = [
    {"als": 1.0, "itemknn": w, "popularity": p, "content": c}
    for w in (0.0, 0.5, 1.0)
    for p in (0.0, 0.25)
    for c in (0.0, 0.25)
]


class RandomModel(Recommender):
    """Uniformly random scores, seeded: the floor below the floor."""

    name = "random"

    def __init__(self, seed: int = 42) -> None:
        super().__init__()
        self.seed = seed

    def _fit(self, interactions: Interactions) -> None:
        self._rng = np.random.default_rng(self.seed)

    def user_scores(self, user: str) -> np.ndarray | None:
        return self._rng.random(len(self.data.items))

    def item_scores(self, item: str) -> np.ndarray | None:
        return self._rng.random(len(self.data.items))

    def explain(self, user: str, item: str) -> Reason:
        return Reason(self.name, "随便看看", "A random pick")


@dataclass(frozen=True)
class Split:
    """Training interactions and each user's held-out item indices."""

    train: Interactions
    test: dict[int, np.ndarray]


def split_per_user(data: Interactions, ratio: float, seed: int) -> Split:
    """Hold out a random ``ratio`` of each user's items (users with two or more)."""
    rng = np.random.default_rng(seed)
    weights, ratings = data.weights.tocsr(), data.ratings.tocsr()
    keep = np.ones(weights.nnz, dtype=bool)
    test: dict[int, np.ndarray] = {}
    for row in range(weights.shape[0]):
        start, end = weights.indptr[row], weights.indptr[row + 1]
        size = end - start
        count = round(size * ratio)
        if size < 2 or count == 0:
            continue
        picked = rng.choice(np.arange(start, end), size=min(count, size - 1), replace=False)
        keep[picked] = False
        test[row] = weights.indices[picked]
    return Split(_subset(data, weights, ratings, keep), test)


def _subset(
    data: Interactions, weights: sparse.csr_matrix, ratings: sparse.csr_matrix, keep: np.ndarray
) -> Interactions:
    kept = weights.copy()
    kept.data = np.where(keep, kept.data, 0).astype(np.float32)
    kept.eliminate_zeros()
    mask = kept.copy()
    mask.data[:] = 1
    rated = ratings.multiply(mask).tocsr().astype(np.float32)
    return Interactions(list(data.users), list(data.items), kept, rated, data.catalogue)


def build_model(
    name: str, params: dict[str, Any] | None = None, embedder: TextEmbedder | None = None
) -> Recommender:
    """A model by name with ``params`` (the content model needs ``embedder``)."""
    params = params or {}
    factories: dict[str, Callable[[], Recommender]] = {
        "popularity": lambda: PopularityModel(**params),
        "random": lambda: RandomModel(**params),
        "itemknn": lambda: ItemKNNModel(**params),
        "als": lambda: ALSModel(**params),
        "bpr": lambda: BPRModel(**params),
        "svd": lambda: SVDModel(**params),
        "spark_als": lambda: SparkALSModel(**params),
    }
    if name == "content":
        if embedder is None:
            raise UnknownModel("the content model needs an embedder; pass embedder=")
        return ContentModel(embedder)
    if name not in factories:
        known = ", ".join([*BASELINES, *MODELS, *OPTIONAL_MODELS])
        raise UnknownModel(f"unknown model '{name}'; choose from {known}")
    return factories[name]()


class _Metrics:
    """Accumulates ranking metrics over users for one model."""

    def __init__(self, train: Interactions, k: int, categories: np.ndarray | None) -> None:
        self.k = k
        self.train = train
        self.sums = {"precision": 0.0, "recall": 0.0, "ndcg": 0.0, "map": 0.0}
        self.diversity = 0.0
        self.novelty = 0.0
        self.users = 0
        self.shown: set[int] = set()
        popularity = train.item_popularity()
        self._self_info = -np.log2((popularity + 1.0) / (len(train.users) + 1.0))
        self._categories = categories
        binary = (train.weights > 0).astype(np.float32).tocsc()
        norms = np.sqrt(np.asarray(binary.sum(axis=0)).ravel())
        self._columns = binary @ sparse.diags(1.0 / np.where(norms > 0, norms, 1.0))

    def add(self, recommended: Sequence[int], relevant: np.ndarray) -> None:
        hits = np.isin(np.asarray(recommended, dtype=np.int64), relevant).astype(np.float64)
        k = self.k
        self.users += 1
        self.sums["precision"] += hits.sum() / k
        self.sums["recall"] += hits.sum() / relevant.size
        discounts = 1.0 / np.log2(np.arange(2, k + 2))
        ideal = discounts[: min(relevant.size, k)].sum()
        self.sums["ndcg"] += float(hits @ discounts[: hits.size]) / ideal
        precision_at = np.cumsum(hits) / np.arange(1, hits.size + 1)
        self.sums["map"] += float(precision_at @ hits) / min(relevant.size, k)
        self.shown.update(recommended)
        if len(recommended) > 1:
            self.diversity += self._intra_list_diversity(list(recommended))
        if recommended:
            self.novelty += float(self._self_info[list(recommended)].mean())

    def _intra_list_diversity(self, items: list[int]) -> float:
        if self._categories is not None:
            labels = self._categories[items]
            same = labels[:, None] == labels[None, :]
        else:
            vectors = self._columns[:, items]
            same = np.asarray((vectors.T @ vectors).todense())
        n = len(items)
        return float(1.0 - (same.sum() - np.trace(same)) / (n * (n - 1)))

    def result(self) -> dict[str, float]:
        n = max(1, self.users)
        out = {f"{name}@{self.k}": round(v / n, 4) for name, v in self.sums.items()}
        out["coverage"] = round(len(self.shown) / max(1, len(self.train.items)), 4)
        out["diversity"] = round(self.diversity / n, 4)
        out["novelty"] = round(self.novelty / n, 4)
        out["users"] = self.users
        return out


def score_model(
    model: Recommender, split: Split, k: int, categories: np.ndarray | None = None
) -> dict[str, float]:
    """Ranking metrics of a fitted ``model`` on ``split``'s held-out items."""
    metrics = _Metrics(split.train, k, categories)
    train = split.train
    for row, relevant in split.test.items():
        user = train.users[row]
        indices, _w = train.history(user)
        seen = [train.items[i] for i in indices]
        recommended = [train.item_index[s.item] for s in model.recommend(user, k, seen)]
        metrics.add(recommended, relevant)
    return metrics.result()


def _precision(model: Recommender, split: Split, k: int) -> float:
    return score_model(model, split, k)[f"precision@{k}"]


def _tune(
    name: str,
    split: Split,
    k: int,
    embedder: TextEmbedder | None,
    grids: Mapping[str, Sequence[dict[str, Any]]],
) -> tuple[dict[str, Any], dict[str, float]]:
    """The grid point with the best validation precision, and every point's figure."""
    grid = list(grids.get(name) or GRIDS.get(name, [{}]))
    tried: dict[str, float] = {}
    best: tuple[float, dict[str, Any]] = (-1.0, grid[0])
    if len(grid) == 1:
        return grid[0], tried
    for params in grid:
        model = build_model(name, params, embedder)
        model.fit(split.train)
        value = _precision(model, split, k)
        tried[repr(params)] = value
        if value > best[0]:
            best = (value, params)
    return best[1], tried


def evaluate(
    ratings_path: Path,
    fmt: str = "movielens",
    k: int = 10,
    test_ratio: float = 0.25,
    seed: int = 42,
    models: Sequence[str] | None = None,
    catalogue_path: Path | None = None,
    embedder: TextEmbedder | None = None,
    grids: Mapping[str, Sequence[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Every model's figures on a per-user random split, beside popularity and random.

    Hyper-parameters are chosen on a validation split carved out of the training part only
    (same ratio, next seed), then each model is refitted on the whole training part and scored
    once on the test part. The content model (and its share of the hybrid) needs
    ``catalogue_path`` with item texts and an ``embedder``; without them it is reported as
    unavailable. ``grids`` replaces the shipped hyper-parameter grids of the models it names
    (a grid of one point is used without tuning).
    """
    if not 0 < test_ratio < 1:
        raise ValueError(f"test_ratio must be between 0 and 1, not {test_ratio}")
    if k < 1:
        raise ValueError(f"k must be 1 or more, not {k}")
    events, problems = load_events(ratings_path, fmt)
    catalogue = load_catalogue(catalogue_path)[0] if catalogue_path else []
    data = build_interactions(events, catalogue)
    chosen = list(models) if models else list(MODELS)
    for name in chosen:
        if name not in MODELS and name not in BASELINES and name not in OPTIONAL_MODELS:
            known = ", ".join([*MODELS, *OPTIONAL_MODELS])
            raise UnknownModel(f"unknown model '{name}'; choose from {known}")
    has_text = bool(catalogue) and embedder is not None
    if embedder is not None and not isinstance(embedder, MemoEmbedder):
        embedder = MemoEmbedder(embedder)
    split = split_per_user(data, test_ratio, seed)
    validation = split_per_user(split.train, test_ratio, seed + 1)
    categories = _categories(data)
    report: dict[str, Any] = {
        "protocol": {
            "split": f"per-user random {1 - test_ratio:.0%}/{test_ratio:.0%}, seed {seed}",
            "tuning": "validation split carved from training only (same ratio, seed + 1)",
            "relevant": "every held-out interaction",
            "diversity_basis": "item categories"
            if categories is not None
            else "cosine of item rating columns",
            "users": len(data.users),
            "items": len(data.items),
            "interactions": int(data.weights.nnz),
            "skipped_rows": len(problems),
        },
        "models": {},
    }
    tuned: dict[str, dict[str, Any]] = {}
    fitted: dict[str, Recommender] = {}
    for name in [*BASELINES, *[m for m in chosen if m not in BASELINES]]:
        if name == "content" and not has_text:
            report["models"][name] = {"unavailable": "needs a catalogue with texts and embedder"}
            continue
        if name in ("hybrid", "widedeep"):
            continue
        params, tried = _tune(name, validation, k, embedder, grids or {})
        tuned[name] = params
        model = build_model(name, params, embedder)
        began = time.perf_counter()
        model.fit(split.train)
        seconds = time.perf_counter() - began
        fitted[name] = model
        report["models"][name] = {
            **score_model(model, split, k, categories),
            "train_seconds": round(seconds, 2),
            "params": params,
            "validation": tried,
        }
    if "hybrid" in chosen:
        report["models"]["hybrid"] = _evaluate_hybrid(
            split, validation, k, tuned, embedder if has_text else None, categories
        )
    if "widedeep" in chosen:
        report["models"]["widedeep"] = _evaluate_widedeep(split, k, tuned, categories)
    floor = report["models"]["popularity"][f"precision@{k}"]
    for figures in report["models"].values():
        if f"precision@{k}" in figures and floor > 0:
            figures["lift_over_popularity"] = round(figures[f"precision@{k}"] / floor - 1, 3)
    return report


def _categories(data: Interactions) -> np.ndarray | None:
    if not data.catalogue or any(item not in data.catalogue for item in data.items):
        return None
    return np.array([data.catalogue[item].category for item in data.items])


def _hybrid(
    weights: dict[str, float], tuned: dict[str, dict[str, Any]], embedder: TextEmbedder | None
) -> HybridModel:
    members: list[tuple[Recommender, float]] = []
    for name, weight in weights.items():
        if weight and (name != "content" or embedder is not None):
            members.append((build_model(name, tuned.get(name), embedder), weight))
    return HybridModel(members)


def _evaluate_hybrid(
    split: Split,
    validation: Split,
    k: int,
    tuned: dict[str, dict[str, Any]],
    embedder: TextEmbedder | None,
    categories: np.ndarray | None,
) -> dict[str, Any]:
    grid = [w for w in HYBRID_WEIGHTS if embedder is not None or not w["content"]]
    # Fit the members once on the validation training part, then only vary the weights.
    full = _hybrid({"als": 1, "itemknn": 1, "popularity": 1, "content": 1}, tuned, embedder)
    full.fit(validation.train)
    tried: dict[str, float] = {}
    best: tuple[float, dict[str, float]] = (-1.0, grid[0])
    for weights in grid:
        view = HybridModel([(m, weights[m.name]) for m, _w in full.members], fit_members=False)
        view.fit(validation.train)
        value = _precision(view, validation, k)
        tried[repr(weights)] = value
        if value > best[0]:
            best = (value, weights)
    model = _hybrid(best[1], tuned, embedder)
    began = time.perf_counter()
    model.fit(split.train)
    seconds = time.perf_counter() - began
    return {
        **score_model(model, split, k, categories),
        "train_seconds": round(seconds, 2),
        "params": best[1],
        "validation": tried,
    }


def _evaluate_widedeep(
    split: Split, k: int, tuned: dict[str, dict[str, Any]], categories: np.ndarray | None
) -> dict[str, Any]:
    params = tuned.get("als", {})
    ranker = WideDeepRanker(
        ALSModel(**params), generator_factory=lambda: ALSModel(**params), candidates=50
    )
    began = time.perf_counter()
    ranker.fit(split.train)
    seconds = time.perf_counter() - began
    return {
        **score_model(ranker, split, k, categories),
        "train_seconds": round(seconds, 2),
        "params": {"generator": "als", **params, "candidates": 50},
        "validation": {},
    }
