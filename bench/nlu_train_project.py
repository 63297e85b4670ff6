"""NLU training time on the project's data, new pipeline vs the previous one; prints JSON.

    .venv-rasa/bin/python -m bench.nlu_train_project

Runs in the Rasa environment, on nlu_data/train, with ``rasa train nlu`` as the platform trains:

1. each pipeline (``config.yml`` and ``bench/nlu_configs/previous_pipeline.yml``) trained from
   an empty Rasa cache (``first_training``), then again with the same cache after
   ``NEW_EXAMPLES`` (10 SYNTHETIC examples written for this bench) are added
   (``retraining_with_10_new``): the new pipeline's e5 cache (by text hash) embeds only those;
   then once more unchanged (``retraining_unchanged``: Rasa's start-up, the floor of any run);
2. the new pipeline's own steps in-process (no Rasa start-up): e5 embedding of every training
   text, the same with the cache warm, and fitting, to show what dominates.

The ratio is previous / new (above 1: the new pipeline trains faster). Wall seconds on a shared
2-core machine: compare figures of one run, not across runs; ``load_average`` says how busy it was.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "nlu_data" / "train"
PIPELINES = {
    "new": ROOT / "config.yml",
    "previous": ROOT / "bench" / "nlu_configs" / "previous_pipeline.yml",
}
# SYNTHETIC: written for this bench; the platform's training data does not hold them.
NEW_EXAMPLES = {
    "check_order_status": ["my parcel seems stuck, where is it", "包裹卡在路上好几天了"],
    "request_return_refund": ["the kettle leaks, I want my money back", "水壶漏水，想退款"],
    "change_address": ["I moved, please ship to my new flat", "我搬家了，寄到新地址吧"],
    "ask_recommendation": ["which blender would you suggest", "有什么好用的榨汁机推荐"],
    "complain": ["third time the courier was rude", "快递员态度太差了，第三次了"],
}


def rasa_train(config: Path, data: Path, cache: Path, out: Path) -> float:
    """Seconds of one ``rasa train nlu`` (Rasa's start-up included, as the platform pays it)."""
    env = {**os.environ, "RASA_CACHE_DIRECTORY": str(cache), "RASA_TELEMETRY_ENABLED": "false"}
    command = [sys.executable, "-m", "rasa", "train", "nlu", "--config", str(config)]
    command += ["--nlu", str(data), "--out", str(out), "--fixed-model-name", "nlu"]
    started = time.monotonic()
    completed = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    if completed.returncode != 0:
        raise SystemExit(f"rasa train nlu with {config} failed:\n{completed.stderr[-3000:]}")
    return round(seconds, 1)


def with_new_examples(folder: Path) -> Path:
    """A copy of the training data plus ``NEW_EXAMPLES`` in one more file."""
    target = folder / "train_plus_10"
    shutil.copytree(TRAIN, target)
    blocks = "".join(
        f"  - intent: {intent}\n    examples: |\n" + "".join(f"      - {t}\n" for t in texts)
        for intent, texts in NEW_EXAMPLES.items()
    )
    (target / "bench_new.yml").write_text(f'version: "3.1"\nnlu:\n{blocks}', encoding="utf-8")
    return target


def in_process(folder: Path) -> dict[str, Any]:
    """The new pipeline's steps without Rasa: embedding (cold, warm) and fitting."""
    model_module = importlib.import_module("bot.rasa_components.intent_model")
    oos = importlib.import_module("bench.nlu_oos")
    training = oos.load(TRAIN)
    texts, labels = [t for t, _ in training], [g for _, g in training]
    encoder = model_module.e5_encoder()
    cache = model_module.EmbeddingCache(folder / "e5.npz")
    started = time.monotonic()
    cache.embed(texts, encoder)
    cold = time.monotonic() - started
    started = time.monotonic()
    warm_cache = model_module.EmbeddingCache(folder / "e5.npz")  # read back from disk
    warm_cache.embed(texts, encoder)
    warm = time.monotonic() - started
    started = time.monotonic()
    model_module.IntentModel.fit(
        texts, labels, model_module.Settings(), lambda batch: warm_cache.embed(batch, encoder)
    )
    fit = time.monotonic() - started
    return {
        "examples": len(texts),
        "embed_seconds_cold_cache": round(cold, 1),
        "embed_seconds_warm_cache": round(warm, 2),
        "fit_seconds_warm_cache": round(fit, 1),
    }


def main() -> None:
    result: dict[str, Any] = {"load_average_before": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="bench-nlu-project-") as name:
        folder = Path(name)
        plus_10 = with_new_examples(folder)
        for label, config in PIPELINES.items():
            cache, out = folder / f"cache-{label}", folder / f"out-{label}"
            result[label] = {
                "config": str(config.relative_to(ROOT)),
                "first_training": rasa_train(config, TRAIN, cache, out),
                "retraining_with_10_new": rasa_train(config, plus_10, cache, out),
                # Nothing changed: Rasa's start-up and fingerprinting only, the floor of a run.
                "retraining_unchanged": rasa_train(config, plus_10, cache, out),
            }
        result["ratio_previous_over_new"] = {
            step: round(result["previous"][step] / result["new"][step], 2)
            for step in ("first_training", "retraining_with_10_new")
        }
        result["new_pipeline_steps"] = in_process(folder)
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
