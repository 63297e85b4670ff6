"""Accuracy and speed of speech to text and OCR, every backend, on the generated evaluation set.

    .venv/bin/python -m bench.media [--folder var/media-eval] [--screenshots 32]

Speech: CER (Chinese clips, espeak-ng voice cmn-latn-pinyin), WER (English clips), real-time
factor. OCR: CER over rendered zh/en order screenshots with noise, blur and rotation, seconds per
image, order ids read. Concurrency: every clip at once through faster-whisper with one worker
and with ``WORKERS`` (voice messages of several customers arriving together), seconds for all
clips, best of two interleaved rounds. A backend that cannot run here (openai-whisper has no
checkpoint unless the user provides one) is reported with the reason. Prints JSON; progress
goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.app import Settings
from channels.media import (
    WORKERS,
    EngineUnavailable,
    OcrEngine,
    Sample,
    SpeechEngine,
    build_eval_set,
    build_ocr_engine,
    build_speech_engine,
    decode_audio,
    evaluate_ocr,
    evaluate_speech,
)

logger = logging.getLogger("bench.media")

GOALS = {"wer_en": 0.10, "cer_zh": 0.15, "real_time_factor": 0.3}
OCR_GOALS = {"cer": 0.03, "seconds_per_image": 1.0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--screenshots", type=int, default=32)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    settings = Settings()
    folder = args.folder or settings.var_dir / "media-eval"
    samples = build_eval_set(folder, screenshots=args.screenshots)
    cache = settings.var_dir / "media-models"
    result: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "speech": {},
        "ocr": {},
    }
    speech: dict[str, SpeechEngine] = {
        "faster-whisper": build_speech_engine("faster-whisper", cache_dir=cache),
        "openai-whisper": build_speech_engine(
            "openai-whisper", cache_dir=cache, checkpoint=settings.whisper_checkpoint
        ),
    }
    for name, engine in speech.items():
        try:
            scores = evaluate_speech(engine, samples, folder, settings.media_max_audio_s)
        except EngineUnavailable as exc:
            result["speech"][name] = {"unavailable": str(exc)}
            continue
        scores["meets_goals"] = {k: scores[k] <= goal for k, goal in GOALS.items()}
        result["speech"][name] = scores
    result["speech_concurrency"] = _concurrency(samples, folder, cache, settings.media_max_audio_s)
    ocr: dict[str, OcrEngine] = {
        name: build_ocr_engine(name)  # type: ignore[arg-type]
        for name in ("rapidocr", "tesseract")
    }
    for name, reader in ocr.items():
        try:
            scores = evaluate_ocr(reader, samples, folder)
        except EngineUnavailable as exc:
            result["ocr"][name] = {"unavailable": str(exc)}
            continue
        scores["meets_goals"] = {k: scores[k] <= goal for k, goal in OCR_GOALS.items()}
        result["ocr"][name] = scores
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _concurrency(
    samples: list[Sample], folder: Path, cache: Path, max_audio_s: float
) -> dict[str, Any]:
    """Seconds to recognize every clip submitted at once, with one worker and with WORKERS."""
    audio = [decode_audio(folder / s.path, max_audio_s) for s in samples if s.path.endswith(".wav")]
    engines = {
        workers: build_speech_engine("faster-whisper", cache_dir=cache, workers=workers)
        for workers in (1, WORKERS)
    }
    best: dict[int, float] = {}
    for _round in range(2):
        for workers, engine in engines.items():
            engine.load()
            started = time.perf_counter()
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(engine.transcribe, audio))
            elapsed = time.perf_counter() - started
            best[workers] = min(best.get(workers, elapsed), elapsed)
            logger.info("%d clips on %d worker(s): %.2f s", len(audio), workers, elapsed)
    return {
        "clips": len(audio),
        **{f"seconds_{w}_worker{'s' if w > 1 else ''}": round(t, 2) for w, t in best.items()},
        "speed_up": round(best[1] / best[WORKERS], 2),
    }


if __name__ == "__main__":
    main()
