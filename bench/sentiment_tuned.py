"""Chinese polarity with e5 fine-tuned on the shipped hand-written reviews, scored on the blind set.

Trains as ``sentiment-build --tuned`` does (``build_tuned_polarity``: the settings of
``sentiment-train --fine-tune``, none changed for this run) on the train split of
``bot/insights/data/zh_reviews_written.tsv`` (hand-written, synthetic; 85 % per domain and
label), keeps the epoch with the best macro-F1 on its dev split (15 %), and scores the model on
``bot/insights/eval/reviews-zh-blind`` (832 hand-written reviews by another writer, outside
data: nothing of it was trained or chosen on), beside the head on frozen vectors. About 5 minutes
on 2 cores. Prints JSON.

Run: ``.venv/bin/python -m bench.sentiment_tuned [--epochs 5] [--seed 0] [--lora-rank 8]
[--out FILE]``
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

from bot.insights import POLARITY_MODEL, LinearHead, build_tuned_polarity
from bot.insights._sentiment_lab import score
from bot.insights._tuned import TunedClassifier
from knowledge import E5Embedder

ROOT = Path(__file__).resolve().parents[1]
BLIND = ROOT / "bot" / "insights" / "eval" / "reviews-zh-blind" / "reviews.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lora-rank", type=int, default=0, help="LoRA adapters of this rank")
    parser.add_argument("--out", type=Path, help="keep the tuned model here")
    args = parser.parse_args()
    with BLIND.open(encoding="utf-8", newline="") as handle:
        blind = list(csv.DictReader(handle))
    texts = [r["text"] for r in blind]
    truth = [r["label"] for r in blind]
    with tempfile.TemporaryDirectory() as folder:
        out = args.out or Path(folder) / "tuned.safetensors"
        built = build_tuned_polarity(
            out,
            lambda line: print(line, file=sys.stderr, flush=True),
            seed=args.seed,
            epochs=args.epochs,
            lora_rank=args.lora_rank,
        )
        model = TunedClassifier.load(out)
    head = LinearHead.load(POLARITY_MODEL)
    result = {
        "data": "trained on zh_reviews_written.tsv (hand-written, synthetic); scored on "
        "reviews-zh-blind (hand-written by another writer, synthetic, outside: not trained "
        "or chosen on)",
        **built,
        "blind_fine_tuned": score(truth, model.predict(texts)).__dict__,
        "blind_shipped_head": score(
            truth, head.predict(E5Embedder().embed_queries(texts))
        ).__dict__,
    }
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
