"""Recommendation latency at 100,000 items and training seconds; SYNTHETIC interactions.

    .venv/bin/python -m bench.recommend [--items 100000] [--users 10000] [--per-user 30]
        [--requests 300]

Interactions are drawn per user from a Zipf-like popularity over the items (a seeded synthetic
set, no real shop data). Reports training seconds per model and, for a known user, p50/p95 of:
each model's top-10, the served hybrid (ALS + item-item + popularity) through the service's
ranking path (blend, business filters, MMR, reasons), and the same right after a new event
(fold-in, no retraining). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]

from bot.recommend import (
    ALSModel,
    CatalogueItem,
    Filters,
    HybridModel,
    Interactions,
    ItemKNNModel,
    PopularityModel,
    RecommendConfig,
    rank_recommendations,
)

logger = logging.getLogger("bench.recommend")
CATEGORIES = ("electronics", "home_appliances", "clothing", "beauty", "books", "food")


def synthetic(users: int, items: int, per_user: int, seed: int) -> Interactions:
    """SYNTHETIC: each user picks ``per_user`` items from a Zipf(0.9)-like popularity."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, items + 1) ** 0.9
    p /= p.sum()
    rows = np.repeat(np.arange(users), per_user)
    cols = rng.choice(items, size=users * per_user, p=p)
    values = rng.integers(1, 6, size=cols.size).astype(np.float32)
    weights = sparse.csr_matrix((values, (rows, cols)), shape=(users, items), dtype=np.float32)
    weights.sum_duplicates()
    catalogue = {
        str(i): CatalogueItem(
            str(i),
            f"商品{i}",
            f"item {i}",
            CATEGORIES[i % 6],
            float(rng.integers(10, 5000)),
            stock=int(rng.integers(0, 20)),
        )
        for i in range(items)
    }
    return Interactions(
        [f"u{u}" for u in range(users)],
        [str(i) for i in range(items)],
        weights,
        sparse.csr_matrix((users, items), dtype=np.float32),
        catalogue,
    )


def percentiles(call: Callable[[], Any], requests: int) -> dict[str, float]:
    call()  # warm caches once
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--per-user", type=int, default=30)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    data = synthetic(args.users, args.items, args.per_user, seed=42)
    models = {
        "popularity": PopularityModel(),
        "itemknn": ItemKNNModel(),
        "als": ALSModel(factors=64, iterations=15),
    }
    train_seconds = {}
    for name, model in models.items():
        began = time.perf_counter()
        model.fit(data)
        train_seconds[name] = round(time.perf_counter() - began, 2)
    hybrid = HybridModel(
        [(models["als"], 1.0), (models["itemknn"], 0.5), (models["popularity"], 0.25)],
        fit_members=False,
    )
    hybrid.fit(data)
    user = "u7"
    latency = {
        name: percentiles(lambda m=model: m.recommend(user, 10), args.requests)  # type: ignore[misc]
        for name, model in models.items()
    }
    config = RecommendConfig()

    def served() -> object:
        return rank_recommendations(hybrid, user, 10, Filters(), frozenset(), frozenset(), config)

    latency["served_hybrid"] = percentiles(served, args.requests)
    data.add(user, "12345", 5.0)
    latency["served_hybrid_after_new_event"] = percentiles(served, args.requests)
    print(
        json.dumps(
            {
                "data": "SYNTHETIC",
                "items": args.items,
                "users": args.users,
                "interactions": int(data.weights.nnz),
                "train_seconds": train_seconds,
                "latency_known_user_top10": latency,
                "goal": "p95 <= 20 ms for a known customer at 100,000 items",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
