"""Query latency at 10,000 FAQ entries with every abstention signal, against dense search alone
measured in the same run (the machine is shared, so the ratio says more than the milliseconds).
Prints JSON.

    .venv/bin/python -m bench.kb_signals [--entries 10000] [--queries 200]

The corpus is synthetic (``bench/kb_cache.py``: generated entries embedded by a hashing stand-in;
every customer question by the real e5 model). Per question, in turns so load changes hit both
alike:

- dense only: e5 embeds the question, Chroma returns the 20 nearest question wordings and
  passages (what a dense-only knowledge base would do before deciding);
- every signal: ``KnowledgeBase.answer`` uncached (the answer cache is off): e5, the same Chroma
  searches, BM25 over both lists, fusion, the self-calibrated thresholds and the lexical
  agreement penalty, the answer and its related questions.

Each variant gets its own wording of the question so neither profits from the other's embedding.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import add_embedding_threads
from bench.kb_cache import HashingPassages, _corpus, _p, query_mix
from bot.language import detect_language
from knowledge import KnowledgeBase, KnowledgeConfig, set_embedding_threads
from knowledge._retrieval import CANDIDATES
from knowledge._store import PASSAGES, QUESTIONS


def _dense_only(kb: KnowledgeBase, question: str) -> None:
    vector = kb._embedder.embed_question(question).tolist()
    for kind in (QUESTIONS, PASSAGES):
        kb._index.search(kind, vector, CANDIDATES, None)


def main() -> None:
    parser = argparse.ArgumentParser(description="Query latency with every signal at 10k entries.")
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    add_embedding_threads(parser)
    args = parser.parse_args()
    set_embedding_threads(args.embedding_threads)
    questions = query_mix(args.queries, seed=2)
    results: dict[str, Any] = {
        "entries": args.entries,
        "queries": args.queries,
        "embedding_threads": args.embedding_threads,
        "load_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="kb-signals-") as tmp:
        corpus = Path(tmp) / "faq.jsonl"
        _corpus(corpus, args.entries)
        config = KnowledgeConfig(
            persist_dir=Path(tmp) / "chroma",
            embedding_cache=Path(tmp) / "embeddings.sqlite",
            refresh_interval_s=3600.0,
            cache_size=0,
        )
        kb = KnowledgeBase(config, detect_language=detect_language, embedder=HashingPassages())
        try:
            started = time.perf_counter()
            kb.ingest([corpus])  # self-calibrates too (the penalty grid included)
            results["ingest_and_calibration_seconds"] = round(time.perf_counter() - started, 1)
            started = time.perf_counter()
            calibration = kb.calibrate()
            results["self_calibration_seconds"] = round(time.perf_counter() - started, 1)
            results["thresholds"] = calibration.thresholds
            kb.answer("warm-up question")  # loads the model and the corpus view
            dense: list[float] = []
            full: list[float] = []
            abstained = 0
            for question in questions:
                started = time.perf_counter()
                _dense_only(kb, f"{question} (dense)")
                dense.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                answer = kb.answer(f"{question} (all signals)")
                full.append((time.perf_counter() - started) * 1000)
                assert not answer.cached
                abstained += answer.abstained
            results["dense_only_ms"] = {"p50": _p(dense, 50), "p95": _p(dense, 95)}
            results["every_signal_ms"] = {"p50": _p(full, 50), "p95": _p(full, 95)}
            results["p95_ratio_every_signal_to_dense"] = round(_p(full, 95) / _p(dense, 95), 2)
            results["abstained"] = abstained
        finally:
            kb.close()
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
