"""Recommendation quality figures on a SYNTHETIC MovieLens-100k-shaped set (no real data).

    .venv/bin/python -m bench.recommend_quality [--seed 42] [--k 10] [--models ...]
        [--ratings FILE --format movielens]

MovieLens cannot be downloaded here and no installed package ships it, so by default the data
comes from ``bot.recommend._synthetic.generate`` (943 users, 1682 items, seeded). With
``--ratings`` a user-supplied MovieLens ``u.data`` is evaluated instead (no item texts: the content
model and the cold-start protocol are then left out). Prints JSON: ``evaluate`` (every model and
the baselines; per-user random 75/25 split, tuned on a validation split of the training part),
``cold_start`` and ``ranker_lift`` (see ``bot/recommend/_protocols.py`` for both protocols).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.recommend import MODELS, MemoEmbedder, cold_start, evaluate, ranker_lift
from bot.recommend._synthetic import generate
from knowledge import E5Embedder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--ratings", type=Path)
    parser.add_argument("--format", default="movielens")
    args = parser.parse_args()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        if args.ratings:
            ratings, catalogue, label = args.ratings, None, f"user-supplied {args.ratings.name}"
        else:
            ratings, catalogue = generate(seed=args.seed).write(Path(folder))
            label = "SYNTHETIC (bot.recommend._synthetic, MovieLens-100k-shaped)"
        embedder = MemoEmbedder(E5Embedder()) if catalogue else None
        report: dict[str, Any] = {
            "data": label,
            "evaluate": evaluate(
                ratings, args.format, args.k, 0.25, args.seed, args.models, catalogue, embedder
            ),
            "ranker_lift": ranker_lift(ratings, args.format, catalogue, args.k, seed=args.seed),
        }
        if catalogue and embedder:
            report["cold_start"] = cold_start(
                ratings, args.format, catalogue, embedder, args.k, seed=args.seed
            )
    report["seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
