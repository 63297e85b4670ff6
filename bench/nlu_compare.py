"""Stock Rasa against this project's intent classifier on the outside sets, message by message.

    .venv/bin/python -m bench.nlu_compare [--split dev|test] [--sets ...]

For each set, ``python -m bot eval nlu --train … --test … --config … --baseline …`` in-process:
both pipelines are trained with ``rasa train nlu`` on the set's train split and parse its dev
(default) or test split through Rasa. The baseline is stock Rasa 3.6
(``bench/nlu_configs/stock_lr_{zh,en}.yml``: default featurizers, ``LogisticRegressionClassifier``);
this project's is ``bench/nlu_configs/intent_classifier_{zh,en}.yml`` without its rejection
thresholds (accuracy counts every message).

Besides the two accuracies it reports whether the difference holds on so few messages
(``paired``: the messages only one pipeline gets right, the exact McNemar p on them and a 95 %
paired-bootstrap interval; ``bot.dialogue.paired_difference``). Sets are real messages (sources
and licences in nlu_data/outside/README.md); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from bot.app import Settings
from bot.dialogue import Evaluator

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = ROOT / "nlu_data" / "outside"
CONFIGS = ROOT / "bench" / "nlu_configs"
SETS = {  # name: (language, train file, split file)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=sorted(SETS))
    args = parser.parse_args()
    toolchain = Settings().rasa_toolchain
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="nlu-compare-") as scratch:
        for name in args.sets:
            language, train, split = SETS[name]
            print(f"{name}: training stock Rasa and this classifier", file=sys.stderr, flush=True)
            ours = without_rejection(
                CONFIGS / f"intent_classifier_{language}.yml", Path(scratch) / f"{name}.yml"
            )
            result = Evaluator(toolchain, config=ours).outside_nlu(
                OUTSIDE / train,
                OUTSIDE / split.format(split=args.split),
                baseline=CONFIGS / f"stock_lr_{language}.yml",
            )
            results[name] = {
                "stock_accuracy": result["baseline"]["accuracy"],
                "this_accuracy": result["accuracy"],
                **result["paired"],
            }
            print(f"{name}: {results[name]}", file=sys.stderr, flush=True)
    print(
        json.dumps(
            {"split": f"{args.split} (outside data, real messages)", "sets": results}, indent=2
        )
    )


if __name__ == "__main__":
    main()
