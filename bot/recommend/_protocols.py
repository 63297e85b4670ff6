"""Two offline protocols beside ``evaluate``: cold-start items, and the Wide & Deep ranker's lift.

Cold start: a random 10% of the items lose every interaction before training; each user who had
interacted with one of them gets the content model's top k among the cold items only, from their
remaining history; a hit is any of their cold items in that top k. The random baselines are
exact: the chance of a hit, and the expected precision, when k of the cold items are drawn at
random.

Ranker lift: each user's ratings in time order are cut 60/20/20 into A, B and C. An ALS generator
fitted on A shows each user its top candidates; ratings of 4 or more in B are the clicks of that
simulated impression log, which trains the Wide & Deep network. Then the generator is refitted on
A+B and both orders of its new top candidates (the generator's and the network's) are scored
against C's ratings of 4 or more.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from math import comb
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]

from bot.recommend._catalogue import load_catalogue
from bot.recommend._content import ContentModel, TextEmbedder
from bot.recommend._events import load_events
from bot.recommend._factors import ALSModel
from bot.recommend._interactions import Interactions, build_interactions
from bot.recommend._types import Event, event_weight
from bot.recommend._widedeep import Context, Impression, WideDeepRanker

logger = logging.getLogger(__name__)


def cold_start(
    ratings_path: Path,
    fmt: str,
    catalogue_path: Path,
    embedder: TextEmbedder,
    k: int = 10,
    cold_ratio: float = 0.1,
    seed: int = 42,
) -> dict[str, Any]:
    """Content-model hit rate on items with no interactions, against random (see module doc)."""
    events, _problems = load_events(ratings_path, fmt)
    catalogue, _skipped = load_catalogue(catalogue_path)
    data = build_interactions(events, catalogue)
    rng = np.random.default_rng(seed)
    touched = np.flatnonzero(data.item_popularity() > 0)
    cold = np.sort(
        rng.choice(touched, size=max(k + 1, int(len(touched) * cold_ratio)), replace=False)
    )
    keep = np.ones(len(data.items), dtype=bool)
    keep[cold] = False
    weights = (data.weights @ sparse.diags(keep.astype(np.float32))).tocsr()
    weights.eliminate_zeros()
    train = Interactions(list(data.users), list(data.items), weights, data.ratings, data.catalogue)
    model = ContentModel(embedder)
    model.fit(train)
    hits = expected = precision = expected_precision = 0.0
    users = 0
    cold_set = set(cold.tolist())
    for row, user in enumerate(data.users):
        start, end = data.weights.indptr[row], data.weights.indptr[row + 1]
        relevant = cold_set.intersection(data.weights.indices[start:end].tolist())
        scores = model.user_scores(user)
        if not relevant or scores is None:
            continue
        top = cold[np.argsort(-scores[cold], kind="stable")[:k]]
        users += 1
        found = len(relevant.intersection(top.tolist()))
        hits += found > 0
        precision += found / k
        n, m = len(cold), len(relevant)
        expected += 1.0 - comb(n - m, k) / comb(n, k)
        expected_precision += m / n
    hit_rate = hits / max(1, users)
    random_rate = expected / max(1, users)
    cold_precision = precision / max(1, users)
    random_precision = expected_precision / max(1, users)
    return {
        "protocol": "10% of items lose all interactions; content model ranks only cold items",
        "cold_items": len(cold),
        "users": users,
        f"hit_rate@{k}": round(hit_rate, 4),
        f"random_hit_rate@{k}": round(random_rate, 4),
        "ratio_over_random": round(hit_rate / random_rate, 2) if random_rate else None,
        f"precision@{k}": round(cold_precision, 4),
        f"random_precision@{k}": round(random_precision, 4),
        "precision_ratio_over_random": (
            round(cold_precision / random_precision, 2) if random_precision else None
        ),
    }


def ranker_lift(
    ratings_path: Path,
    fmt: str,
    catalogue_path: Path | None = None,
    k: int = 10,
    candidates: int = 50,
    seed: int = 42,
    factors: int = 64,
) -> dict[str, Any]:
    """Wide & Deep re-ranking against its ALS generator's own order (see module doc)."""
    events, _problems = load_events(ratings_path, fmt)
    catalogue = load_catalogue(catalogue_path)[0] if catalogue_path else []
    full = build_interactions(events, catalogue)
    parts = _time_parts(events)
    a = _restrict(full, events, parts, {0})
    ab = _restrict(full, events, parts, {0, 1})
    clicks_b = _liked(events, parts, 1)
    clicks_c = _liked(events, parts, 2)
    hours = _hours(events, parts)
    generator = ALSModel(factors=factors, seed=seed)
    generator.fit(a)
    log: list[Impression] = []
    for user, liked in clicks_b.items():
        seen = [a.items[i] for i in a.history(user)[0]]
        context = Context(hours.get(user, 12))
        log += [
            Impression(user, s.item, s.item in liked, context)
            for s in generator.recommend(user, candidates, seen)
        ]
    began = time.perf_counter()
    ranker = WideDeepRanker(generator, candidates=candidates, seed=seed)
    ranker.fit_log(a, log, fit_generator=False)
    seconds = time.perf_counter() - began
    ranker.rebind(ab)
    base = {"precision": 0.0, "ndcg": 0.0}
    ranked = {"precision": 0.0, "ndcg": 0.0}
    users = 0
    for user, liked in clicks_c.items():
        seen = [ab.items[i] for i in ab.history(user)[0]]
        first = [s.item for s in generator.recommend(user, k, seen)]
        second = [s.item for s in ranker.rank(user, k, seen, Context(hours.get(user, 12)))]
        if not first:
            continue
        users += 1
        for total, order in ((base, first), (ranked, second)):
            hits = np.array([item in liked for item in order], dtype=np.float64)
            discounts = 1.0 / np.log2(np.arange(2, hits.size + 2))
            ideal = (1.0 / np.log2(np.arange(2, min(len(liked), k) + 2))).sum()
            total["precision"] += hits.sum() / k
            total["ndcg"] += float(hits @ discounts) / ideal
    n = max(1, users)
    generator_figures = {f"{m}@{k}": round(v / n, 4) for m, v in base.items()}
    ranker_figures = {f"{m}@{k}": round(v / n, 4) for m, v in ranked.items()}
    return {
        "protocol": "per-user time order 60/20/20; clicks = ratings >= 4 among shown candidates",
        "log_impressions": len(log),
        "log_clicks": sum(i.clicked for i in log),
        "test_users": users,
        "generator": generator_figures,
        "widedeep": ranker_figures,
        "lift": {
            m: round(ranker_figures[m] / generator_figures[m] - 1, 3)
            for m in generator_figures
            if generator_figures[m]
        },
        "ranker_train_seconds": round(seconds, 2),
    }


def _time_parts(events: list[Event]) -> list[int]:
    """For each event, 0, 1 or 2: its user's first 60%, next 20% or last 20% in time."""
    by_user: dict[str, list[int]] = defaultdict(list)
    for index, event in enumerate(events):
        by_user[event.user_id].append(index)
    part = [0] * len(events)
    for indices in by_user.values():
        indices.sort(key=lambda i: (events[i].at, i))
        n = len(indices)
        for rank, index in enumerate(indices):
            part[index] = 0 if rank < 0.6 * n else (1 if rank < 0.8 * n else 2)
    return part


def _restrict(
    full: Interactions, events: list[Event], parts: list[int], keep: set[int]
) -> Interactions:
    cells: dict[tuple[int, int], float] = defaultdict(float)
    ratings: dict[tuple[int, int], float] = {}
    for event, part in zip(events, parts, strict=True):
        if part in keep:
            key = (full.user_index[event.user_id], full.item_index[event.item_id])
            cells[key] += event_weight(event.kind, event.value)
            if event.kind == "rating" and event.value is not None:
                ratings[key] = event.value
    shape = full.shape
    positive = {key: value for key, value in cells.items() if value > 0}
    return Interactions(
        list(full.users),
        list(full.items),
        _matrix(positive, shape),
        _matrix(ratings, shape),
        full.catalogue,
    )


def _matrix(cells: dict[tuple[int, int], float], shape: tuple[int, int]) -> sparse.csr_matrix:
    if not cells:
        return sparse.csr_matrix(shape, dtype=np.float32)
    keys = np.array(list(cells), dtype=np.int64)
    values = np.array(list(cells.values()), dtype=np.float32)
    return sparse.csr_matrix((values, (keys[:, 0], keys[:, 1])), shape=shape, dtype=np.float32)


def _liked(events: list[Event], parts: list[int], part: int) -> dict[str, set[str]]:
    liked: dict[str, set[str]] = defaultdict(set)
    for event, p in zip(events, parts, strict=True):
        if p == part and (event.value or 0) >= 4:
            liked[event.user_id].add(event.item_id)
    return liked


def _hours(events: list[Event], parts: list[int]) -> dict[str, int]:
    hours: dict[str, int] = {}
    for event, part in zip(events, parts, strict=True):
        if part == 1:
            hours[event.user_id] = event.at.hour
    return hours
