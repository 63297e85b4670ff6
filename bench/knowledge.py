"""Knowledge-base benchmark: quality on the shipped eval set, query latency at 10,000 chunks,
ingestion speed. Prints JSON.

    .venv/bin/python -m bench.knowledge [--chunks 10000] [--queries 200] [--work-dir DIR]

Quality: ``kb eval`` on knowledge/sample (recall@1/@5, MRR@10, abstention, answer and
false-answer rates, and the thresholds the set calibrates). Latency: the sample knowledge base
plus generated product passages up to ``--chunks`` records, then ``answer()`` for each eval
question with the answer cache off (question embedding included). Ingestion: chunks per second of
a first ingestion with an empty embedding cache. Filler vectors are cached in ``--work-dir``
between runs; the first run embeds them all (several minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import add_embedding_threads
from bot.app import PROJECT_ROOT
from bot.language import detect_language
from knowledge import KnowledgeBase, KnowledgeConfig, evaluate, set_embedding_threads
from knowledge._eval import load_qa

SAMPLE = PROJECT_ROOT / "knowledge" / "sample"
_PRODUCTS_ZH = [
    "蓝牙耳机",
    "空气炸锅",
    "羊毛大衣",
    "保湿面霜",
    "机械键盘",
    "电饭煲",
    "跑步鞋",
    "绿茶礼盒",
    "扫地机器人",
    "儿童绘本",
    "电动牙刷",
    "真丝围巾",
]
_PRODUCTS_EN = [
    "wireless earbuds",
    "air fryer",
    "wool coat",
    "moisturizer",
    "mechanical keyboard",
    "rice cooker",
    "running shoes",
    "green tea gift box",
    "robot vacuum",
    "picture book",
    "electric toothbrush",
    "silk scarf",
]
_FACTS_ZH = [
    "重量为{n}克",
    "续航约{n}小时",
    "容量为{n}毫升",
    "适合{n}岁以上使用",
    "共有{n}种颜色可选",
    "包装尺寸为{n}厘米",
    "额定功率{n}瓦",
]
_FACTS_EN = [
    "weighs {n} grams",
    "lasts about {n} hours on a charge",
    "holds {n} ml",
    "suits ages {n} and up",
    "comes in {n} colours",
    "ships in a {n} cm box",
    "is rated at {n} watts",
]


def _filler(folder: Path, chunks: int) -> None:
    """Product pages, one short section per chunk, half Chinese and half English."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    per_file = 100
    for number in range(0, chunks, per_file):
        zh = (number // per_file) % 2 == 0
        lines = [f"# {'商品资料' if zh else 'Product notes'} {number // per_file}\n"]
        for _i in range(number, min(number + per_file, chunks)):
            product = rng.choice(_PRODUCTS_ZH if zh else _PRODUCTS_EN)
            fact = rng.choice(_FACTS_ZH if zh else _FACTS_EN).format(n=rng.randint(2, 999))
            model = f"{rng.choice('ABCDEFGH')}{rng.randint(100, 999)}"
            text = f"{model}型{product}{fact}。" if zh else f"The {product} {model} {fact}."
            lines.append(f"## {model}\n\n{text}\n")
        (folder / f"products-{number // per_file:03d}.md").write_text(
            "\n".join(lines), encoding="utf-8"
        )


def quality(work: Path) -> dict[str, Any]:
    shutil.rmtree(work / "eval", ignore_errors=True)
    report = evaluate(
        SAMPLE / "kb",
        SAMPLE / "eval.dev.jsonl",
        KnowledgeConfig(),
        detect_language=detect_language,
        test_qa=SAMPLE / "eval.test.jsonl",
    ).to_dict()
    report.pop("misses")
    return report


def latency(work: Path, chunks: int, queries: int) -> dict[str, Any]:
    filler = work / "filler"
    sample_chunks = 500
    if not filler.exists():
        _filler(filler, max(chunks - sample_chunks, 0))
    knowledge = KnowledgeBase(
        KnowledgeConfig(
            persist_dir=work / "chroma", embedding_cache=work / "embeddings.sqlite", cache_size=0
        ),
        detect_language=detect_language,
    )
    try:
        ingest = knowledge.ingest([SAMPLE / "kb", filler], progress=True)
        stats = knowledge.stats()
        records = stats["passages"] + stats["faq_answers"] + stats["question_wordings"]
        questions = [item.question for item in load_qa(SAMPLE / "eval.test.jsonl")]
        questions = (questions * (queries // len(questions) + 1))[:queries]
        knowledge.answer("预热")  # loads the model and the BM25 statistics
        timings: list[float] = []
        for question in questions:
            # A fresh wording each time, so neither the query-vector nor the answer cache helps.
            fresh = f"{question} {len(timings)}"
            started = time.perf_counter()
            knowledge.answer(fresh)
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        knowledge.close()
    return {
        "records": records,
        "queries": len(timings),
        "query_ms_p50": round(float(np.percentile(timings, 50)), 1),
        "query_ms_p95": round(float(np.percentile(timings, 95)), 1),
        "query_ms_max": round(max(timings), 1),
        "ingest_seconds_this_run": round(ingest.seconds, 1),
        # Only meaningful on a first run: later runs find the vectors in the embedding cache.
        "ingest_chunks_per_s_this_run": round(ingest.chunks_per_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    add_embedding_threads(parser)
    parser.add_argument("--work-dir", type=Path, default=PROJECT_ROOT / "var" / "bench-knowledge")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    set_embedding_threads(args.embedding_threads)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {}
    if not args.skip_quality:
        result["quality"] = quality(args.work_dir)
    result["latency"] = latency(args.work_dir, args.chunks, args.queries)
    result["goals"] = {
        "recall_at_1": ">= 0.85",
        "recall_at_5": ">= 0.97",
        "abstention_rate": ">= 0.90 with answer_rate >= 0.95",
        "query_ms_p95": "<= 50 at 10,000 chunks",
        "ingest_chunks_per_s": ">= 50",
    }
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
