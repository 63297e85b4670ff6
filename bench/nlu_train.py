"""Intent-model training seconds at 10,000 examples / 80 intents; prints JSON.

    .venv-rasa/bin/python -m bench.nlu_train [--examples 10000] [--intents 80] [--no-e5]
        [--no-tfidf] [--compare-previous] [--embedding-cache FILE] [--against FILE]

Runs in the Rasa environment (the model is ``bot.rasa_components.IntentClassifier``'s). The set
is built from the outside data (nlu_data/outside) and the project's training data: the 80
intents with most examples, each message labelled with its set's intent. These hold about 6,500
real messages; the rest up to 10,000 are SYNTHETIC variants of them (a politeness prefix or a
trailing "?" / "？"), reported as ``synthetic_examples``. Then:

1. first training with an empty embedding cache (every text embedded by e5);
2. retraining after 5 % new examples (500 more, held back from step 1), with its cache and
   starting from the first model (as ``IntentClassifier`` does with its ``last-model``);
   ``--embedding-cache`` starts from a given cache file instead of an empty one (the first
   training then reports how many texts it had to embed: the fit is timed apart either way);
3. the same two without e5 (TF-IDF only), for comparison.

``--compare-previous`` also times, in the same run and on the same features as the e5 run's
first training, the fit the model used before (scikit-learn's ``LogisticRegression``, L-BFGS-B
on one stacked sparse matrix, from zero each time), and reports how far its predictions on the
training texts agree with the new fit's (both minimise the same objective).

``--against FILE`` also trains, step by step in the same run, with another version of the model
module (for instance main's: ``git show main:bot/rasa_components/intent_model.py > old.py``),
each version with its own embedding cache (empty, or a copy of ``--embedding-cache``): its
results are under ``"against"`` in each step, and the two alternate which goes first, so that a
change of load on a shared machine falls on both.

Each step reports wall seconds, split into embedding (``cold`` when the cache held none of the
texts) and fitting, and the process's CPU seconds (on a shared machine the wall time depends on
the load; the load average is printed at the start and the end). Each step is also printed to
stderr as it ends, so an interrupted run leaves its finished steps.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCES = {
    "smp": ROOT / "nlu_data/outside/smp2017_ecdt",
    "snips": ROOT / "nlu_data/outside/snips",
    "cb": ROOT / "nlu_data/outside/chatterbot",
    "project": ROOT / "nlu_data/train",
}
PREFIXES_EN = ("please ", "hi, ", "hey, ", "excuse me, ", "quick question: ")
PREFIXES_ZH = ("请问", "你好，", "麻烦", "我想问一下，", "帮个忙，")


def _examples(folder: Path, tag: str) -> list[tuple[str, str]]:
    pairs = []
    for path in sorted(folder.rglob("*.yml")):
        if path.stem.endswith("_oos"):
            continue  # the same messages again, plus out-of-scope ones
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            if isinstance(block, dict) and "intent" in block:
                language = "zh" if "/zh" in str(path) or path.stem.startswith("zh") else "en"
                label = f"{tag}:{block['intent']}" + (
                    f":{language}" if tag in {"project", "cb"} else ""
                )
                for line in str(block.get("examples") or "").splitlines():
                    if line.strip().startswith("- "):
                        pairs.append((_plain(line.strip()[2:]), label))
    return pairs


def _plain(text: str) -> str:
    # Entity annotations "[text](entity)" read as their text.
    import re

    return re.sub(r"\[([^\]]+)\](\([^)]+\)|\{[^}]+\})", r"\1", text).strip()


def build_set(examples: int, intents: int) -> tuple[list[tuple[str, str]], int]:
    """(examples, of which synthetic): the largest intents, topped up with variants."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for tag, folder in SOURCES.items():
        for text, label in _examples(folder, tag):
            if text and text not in seen:
                seen.add(text)
                by_intent[label].append(text)
    chosen = sorted(by_intent, key=lambda label: (-len(by_intent[label]), label))[:intents]
    if len(chosen) < intents:
        raise SystemExit(f"only {len(chosen)} intents in the data; asked for {intents}")
    data = [(t, label) for label in chosen for t in by_intent[label]]
    real = len(data)
    rng = random.Random(0)
    while len(data) < examples:
        text, label = data[rng.randrange(real)]
        chinese = any("\u4e00" <= ch <= "\u9fff" for ch in text)
        prefix = rng.choice(PREFIXES_ZH if chinese else PREFIXES_EN)
        variant = prefix + text + rng.choice(("", "？" if chinese else "?"))
        if variant not in seen:
            seen.add(variant)
            data.append((variant, label))
    rng.shuffle(data)
    return data[:examples], max(0, min(examples, len(data)) - real)


def _train(
    model_module: Any,
    data: list[tuple[str, str]],
    use_e5: bool,
    cache: Path,
    previous: Any = None,
    compare_previous: bool = False,
) -> tuple[dict[str, Any], Any]:
    settings = model_module.Settings(use_e5=use_e5)
    texts, labels = [t for t, _ in data], [label for _, label in data]
    embed, embed_seconds = None, 0.0
    started, cpu_started = time.monotonic(), time.process_time()
    if use_e5:
        store = model_module.EmbeddingCache(cache)
        encoder = model_module.e5_encoder()
        before = len(store)
        vectors = store.embed(texts, encoder)  # timed apart from the fit
        embed_seconds = time.monotonic() - started
        embed_cpu_seconds = time.process_time() - cpu_started
        newly = len(store) - before
        lookup = dict(zip(texts, vectors, strict=True))

        def embed(batch: Any) -> Any:
            import numpy as np

            return np.stack([lookup[t] for t in batch])
    else:
        newly, embed_cpu_seconds = 0, 0.0
    fit_started, fit_cpu_started = time.monotonic(), time.process_time()
    model = model_module.IntentModel.fit(texts, labels, settings, embed, previous)
    fit_seconds = time.monotonic() - fit_started
    result: dict[str, Any] = {
        "examples": len(texts),
        "intents": len(model.classes),
        "newly_embedded": newly,
        "warm_start": previous is not None,
        "embedding_cache": "cold" if newly == len(set(texts)) else "warm",
        "embed_seconds": round(embed_seconds, 1),
        "embed_cpu_seconds": round(embed_cpu_seconds, 1),
        "fit_seconds": round(fit_seconds, 1),
        "fit_cpu_seconds": round(time.process_time() - fit_cpu_started, 1),
        "iterations": getattr(model, "iterations", None),
        "total_seconds": round(time.monotonic() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),
    }
    if compare_previous:
        result["previous_fit"] = _previous_fit(model_module, model, texts, labels, embed)
    return result, model


def _previous_fit(
    model_module: Any, model: Any, texts: list[str], labels: list[str], embed: Any
) -> dict[str, Any]:
    """The fit as it was before (scikit-learn L-BFGS on the stacked matrix), on ``model``'s
    features, and the share of training texts on which both fits predict the same intent."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    settings = model.settings
    embeddings = model_module.IntentModel._embeddings(texts, settings, embed)
    features = model_module.IntentModel._features(texts, model.vectorizers, embeddings, settings)
    started, cpu_started = time.monotonic(), time.process_time()
    previous = LogisticRegression(
        C=settings.c, class_weight="balanced", max_iter=1000, solver="lbfgs"
    ).fit(features, labels)
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu_started
    new = np.asarray(features @ model.coef.T + model.intercept).argmax(axis=1)
    old = previous.predict(features)
    agreement = np.mean([model.classes[i] == o for i, o in zip(new, old, strict=True)])
    return {
        "fit_seconds": round(seconds, 1),
        "fit_cpu_seconds": round(cpu, 1),
        "iterations": int(previous.n_iter_[0]),
        "same_prediction_on_training_texts": round(float(agreement), 4),
    }


def _module_from_file(path: Path) -> Any:
    """Another version of the model module, loaded from its file under a name of its own."""
    if not path.is_file():
        raise SystemExit(f"--against: no such file {path}; give a copy of intent_model.py")
    spec = importlib.util.spec_from_file_location("intent_model_against", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"--against: cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--intents", type=int, default=80)
    parser.add_argument("--no-e5", action="store_true", help="skip the e5 runs (TF-IDF only)")
    parser.add_argument(
        "--compare-previous",
        action="store_true",
        help="also time the previous fit (scikit-learn L-BFGS) on the same features",
    )
    parser.add_argument(
        "--embedding-cache",
        type=Path,
        help="start from this e5 cache (.npz, updated in place) instead of an empty one",
    )
    parser.add_argument("--no-tfidf", action="store_true", help="skip the TF-IDF-only runs")
    parser.add_argument(
        "--against",
        type=Path,
        help="another intent_model.py to time in the same run (results under 'against')",
    )
    args = parser.parse_args()
    # Imported here: the module lives in the Rasa environment (Python 3.10).
    model_module = importlib.import_module("bot.rasa_components.intent_model")
    # The first training sees ``examples``; 5 % more arrive before the retraining.
    data, synthetic = build_set(args.examples + args.examples // 20, args.intents)
    first, later = data[: args.examples], data
    digest = hashlib.sha256("".join(t for t, _ in data).encode()).hexdigest()[:12]
    result: dict[str, Any] = {
        "examples": len(first),
        "new_examples": len(later) - len(first),
        "intents": args.intents,
        "synthetic_examples": synthetic,
        "data_digest": digest,
        "goal_seconds": 120,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "embedding_cache": "given" if args.embedding_cache else "empty at the start",
    }
    versions = {"new": model_module}
    if args.against:
        versions["against"] = _module_from_file(args.against)
        result["against"] = str(args.against)
    with tempfile.TemporaryDirectory(prefix="bench-nlu-") as folder:
        caches = {"new": args.embedding_cache or Path(folder) / "e5.npz"}
        if args.against:
            caches["against"] = Path(folder) / "e5-against.npz"
            if args.embedding_cache:
                shutil.copyfile(args.embedding_cache, caches["against"])
        runs = [] if args.no_tfidf else [("tfidf", False)]
        runs += [] if args.no_e5 else [("tfidf_e5", True)]
        turn = 0
        for name, use_e5 in runs:
            result[name] = {}
            previous: dict[str, Any] = {version: None for version in versions}
            for step, data_set in (
                ("first_training", first),
                ("retraining_after_5_percent_new", later),
            ):
                compare = args.compare_previous and use_e5 and previous["new"] is None
                order = list(versions) if turn % 2 == 0 else list(reversed(versions))
                turn += 1
                timed: dict[str, Any] = {}
                for version in order:
                    timed[version], previous[version] = _train(
                        versions[version],
                        data_set,
                        use_e5,
                        caches[version],
                        previous[version],
                        compare and version == "new",
                    )
                    timed[version]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
                    shown = {name: {step: {version: timed[version]}}}
                    print(json.dumps(shown), file=sys.stderr, flush=True)
                result[name][step] = timed.pop("new")
                if timed:
                    result[name][step]["against"] = timed["against"]
                    result[name][step]["ran_first"] = order[0]
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
