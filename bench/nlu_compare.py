"""Stock Rasa against this project's intent classifier on the outside sets, message by message.

    .venv/bin/python -m bench.nlu_compare [--split dev|test] [--sets ...] [--resamples N]

Both pipelines are trained with ``rasa train nlu`` on each set's train split and parse its dev
(default) or test split through Rasa, as ``python -m bot eval nlu --config`` does:
stock Rasa 3.6 from ``bench/nlu_configs/stock_lr_{zh,en}.yml`` (default featurizers,
``LogisticRegressionClassifier``), this project's from ``bench/nlu_configs/intent_classifier_
{zh,en}.yml`` without its rejection thresholds (accuracy counts every message).

Besides the two accuracies, it reports what a difference on a few hundred messages can say:
the messages only one pipeline gets right (the discordant pairs), the exact McNemar test on
them (two-sided binomial p), and a 95 % paired-bootstrap interval of the difference (seeded). Sets
are real messages (sources and licences in nlu_data/outside/README.md); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.stats import binomtest  # type: ignore[import-untyped]

from bot.app import Settings
from bot.dialogue import Evaluator
from bot.dialogue._evaluation import load_examples

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = ROOT / "nlu_data" / "outside"
CONFIGS = ROOT / "bench" / "nlu_configs"
SETS = {  # name: (language, train file, split file stem)
    "smp2017_zh": ("zh", "smp2017_ecdt/train.yml", "smp2017_ecdt/{split}.yml"),
    "snips_en": ("en", "snips/train.yml", "snips/{split}.yml"),
    "chatterbot_zh": ("zh", "chatterbot/zh_train.yml", "chatterbot/zh_{split}.yml"),
    "chatterbot_en": ("en", "chatterbot/en_train.yml", "chatterbot/en_{split}.yml"),
}


def without_rejection(config: Path, target: Path) -> Path:
    """``config`` with the intent classifier's rejection thresholds taken out."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    for component in data["pipeline"]:
        component.pop("threshold", None)
        component.pop("min_similarity", None)
    target.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


def paired(stock: np.ndarray, ours: np.ndarray, resamples: int, seed: int = 0) -> dict[str, Any]:
    """Accuracies, discordant pairs, exact McNemar p and a bootstrap interval of ours − stock."""
    only_ours = int(np.sum(ours & ~stock))
    only_stock = int(np.sum(stock & ~ours))
    discordant = only_ours + only_stock
    p_value = binomtest(only_ours, discordant).pvalue if discordant else 1.0
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(stock), size=(resamples, len(stock)))
    differences = ours[rows].mean(axis=1) - stock[rows].mean(axis=1)
    low, high = np.percentile(differences, [2.5, 97.5])
    return {
        "messages": len(stock),
        "stock_accuracy": round(float(stock.mean()), 4),
        "this_accuracy": round(float(ours.mean()), 4),
        "difference": round(float(ours.mean() - stock.mean()), 4),
        "only_this_right": only_ours,
        "only_stock_right": only_stock,
        "mcnemar_exact_p": round(float(p_value), 4),
        "bootstrap_95": [round(float(low), 4), round(float(high), 4)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=sorted(SETS))
    parser.add_argument("--resamples", type=int, default=10_000)
    args = parser.parse_args()
    toolchain = Settings().rasa_toolchain
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="nlu-compare-") as scratch:
        folder = Path(scratch)
        for name in args.sets:
            language, train, split = SETS[name]
            examples = load_examples(OUTSIDE / split.format(split=args.split))
            gold = np.array([e.intent for e in examples])
            right = {}
            for pipeline, config in (
                ("stock", CONFIGS / f"stock_lr_{language}.yml"),
                (
                    "this",
                    without_rejection(
                        CONFIGS / f"intent_classifier_{language}.yml",
                        folder / f"this_{language}.yml",
                    ),
                ),
            ):
                print(f"{name}: training {pipeline}", file=sys.stderr, flush=True)
                evaluator = Evaluator(toolchain, config=config)
                out = folder / f"{name}-{pipeline}"
                out.mkdir()
                model = evaluator.train_nlu(OUTSIDE / train, out, cache=out / "cache")
                predicted = [str(p.get("intent")) for p in evaluator.predict(model, examples)]
                right[pipeline] = np.array(predicted) == gold
            results[name] = paired(right["stock"], right["this"], args.resamples)
            print(f"{name}: {results[name]}", file=sys.stderr, flush=True)
    print(
        json.dumps(
            {
                "split": f"{args.split} (outside data, real messages)",
                "sets": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
