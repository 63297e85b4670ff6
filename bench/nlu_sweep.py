"""Sweep the intent model's settings on the outside sets' DEV splits; prints JSON.

    .venv-rasa/bin/python -m bench.nlu_sweep [--c 10 30 100] [--e5-scale 1 2 3] [--sets ...]

Runs in the Rasa environment (the model is ``bot.rasa_components.IntentClassifier``'s). For
each outside set of ``nlu_data/outside`` (SMP2017-ECDT zh, SNIPS en, chatterbot zh and en: real
messages, sources and licences in that folder's README) and each pair of settings, the model is
trained on the set's train split and scored on its dev split (accuracy and macro-F1). The test
splits are never read here. The row ``mean`` averages the sets, each set counting once whatever
its size: the defaults must hold for a business whose data looks like any of them.

e5 vectors come from one cache (``var/bench/intent-e5-outside.npz``), so a second run embeds
nothing; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.nlu_oos import load

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = ROOT / "nlu_data" / "outside"
CACHE = ROOT / "var" / "bench" / "intent-e5-outside.npz"  # var/ is not versioned
SETS = {
    "smp2017_zh": ("smp2017_ecdt/train.yml", "smp2017_ecdt/dev.yml"),
    "snips_en": ("snips/train.yml", "snips/dev.yml"),
    "chatterbot_zh": ("chatterbot/zh_train.yml", "chatterbot/zh_dev.yml"),
    "chatterbot_en": ("chatterbot/en_train.yml", "chatterbot/en_dev.yml"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c", type=float, nargs="+", default=[10.0, 30.0, 100.0])
    parser.add_argument("--e5-scale", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=sorted(SETS))
    args = parser.parse_args()
    from sklearn.metrics import f1_score  # type: ignore[import-untyped]

    module = importlib.import_module("bot.rasa_components.intent_model")
    encoder = module.e5_encoder()
    cache = module.EmbeddingCache(CACHE)

    def embed(texts: Any) -> Any:
        return cache.embed(list(texts), encoder)

    data = {
        name: (load(OUTSIDE / train), load(OUTSIDE / dev))
        for name, (train, dev) in SETS.items()
        if name in args.sets
    }
    rows: list[dict[str, Any]] = []
    for c, scale in itertools.product(args.c, args.e5_scale):
        settings = module.Settings(c=c, e5_scale=scale)
        row: dict[str, Any] = {"c": c, "e5_scale": scale}
        for name, (train, dev) in data.items():
            started = time.monotonic()
            model = module.IntentModel.fit(
                [t for t, _ in train], [g for _, g in train], settings, embed
            )
            probabilities, _ = model.probabilities([t for t, _ in dev], embed)
            guess = [model.classes[i] for i in np.argmax(probabilities, axis=1)]
            gold = [g for _, g in dev]
            hits = [a == b for a, b in zip(gold, guess, strict=True)]
            row[name] = {
                "accuracy": round(float(np.mean(hits)), 4),
                "macro_f1": round(
                    float(f1_score(gold, guess, labels=sorted(set(gold)), average="macro")), 4
                ),
                "seconds": round(time.monotonic() - started, 1),
            }
            print(f"C {c} scale {scale} {name}: {row[name]}", file=sys.stderr, flush=True)
        row["mean_accuracy"] = round(float(np.mean([row[n]["accuracy"] for n in data])), 4)
        rows.append(row)
    best = max(rows, key=lambda r: (r["mean_accuracy"], -r["c"], -r["e5_scale"]))
    print(
        json.dumps(
            {
                "split": "dev (outside data, real messages; test never read)",
                "rows": rows,
                "best_mean": {"c": best["c"], "e5_scale": best["e5_scale"]},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
