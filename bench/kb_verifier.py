"""The LLM verifier on the outside FAQ set: the three rates with and without it, on dev and test,
the band chosen on dev, and the number and latency of the LLM calls. Prints JSON.

    .venv/bin/python -m bench.kb_verifier [--work-dir DIR] [--threads 2]

The knowledge base answers every dev and test question of ``nlpjs-corpus50-en`` through
``KnowledgeBase.answer`` with its shipped (self-calibrated) thresholds, once without the verifier
and once with it on every answer (Qwen2.5-Coder-0.5B GGUF served by llama-cpp-python through
``tests/llm_server.py``). Each verifier call is recorded with how far the answer's similarity
cleared its threshold, so a band (verify only answers within it) is the same verdicts applied to
fewer answers: the band is chosen on dev (the most questions decided right, ties to fewer calls,
"off" when no band beats it) and reported on test.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bot.app import PROJECT_ROOT
from bot.language import detect_language
from knowledge import Answer, KnowledgeBase, KnowledgeConfig, LLMConfig
from knowledge._eval import QAItem, load_qa
from knowledge._verification import Verdict
from tests.llm_server import MODEL_ALIAS, llama_server

SET = PROJECT_ROOT / "knowledge" / "eval" / "outside" / "nlpjs-corpus50-en"
BANDS: tuple[float | None, ...] = (0.005, 0.01, 0.02, 0.03, 0.05, 0.1, None)  # None: every answer


@dataclass
class Outcome:
    """One question: the thresholds' answer and, when it was verified, the verdict."""

    item: QAItem
    answered_doc: str | None  # the document answered from without the verifier (None: abstained)
    clearance: float | None = None  # how far the similarity cleared its threshold
    verdict: Verdict | None = None
    latency_ms: float | None = None
    on_answer_doc: str | None = None  # with the verifier on every answer


def _doc(answer: Answer) -> str | None:
    return None if answer.abstained or not answer.citations else answer.citations[0].doc_id


def _language(item: QAItem) -> str:
    return item.language or detect_language(item.question) or "en"


def _rates(outcomes: Sequence[Outcome], band: float | None, verify: bool) -> dict[str, Any]:
    answered = abstained = wrong = given = answerable = unanswerable = right = calls = 0
    for o in outcomes:
        doc = o.answered_doc
        checked = verify and o.verdict is not None and (band is None or o.clearance < band)  # type: ignore[operator]
        calls += checked
        if checked and o.verdict is Verdict.DOES_NOT_ANSWER:
            doc = None
        given += doc is not None
        wrong += doc is not None and doc not in o.item.relevant_ids
        if o.item.relevant_ids:
            answerable += 1
            answered += doc is not None
            right += doc in o.item.relevant_ids
        else:
            unanswerable += 1
            abstained += doc is None
            right += doc is None
    return {
        "answer_rate": round(answered / max(answerable, 1), 4),
        "abstention_rate": round(abstained / max(unanswerable, 1), 4),
        "false_answer_rate": round(wrong / max(given, 1), 4),
        "decided_right": right,
        "questions": len(outcomes),
        "llm_calls": calls,
    }


def _latency(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    times = [o.latency_ms for o in outcomes if o.latency_ms is not None]
    verdicts = [o.verdict.value for o in outcomes if o.verdict is not None]
    return {
        "calls": len(times),
        "p50_ms": round(float(np.percentile(times, 50)), 1) if times else None,
        "p95_ms": round(float(np.percentile(times, 95)), 1) if times else None,
        "verdicts": {v.value: verdicts.count(v.value) for v in Verdict},
    }


def _run(kb: KnowledgeBase, items: Sequence[QAItem]) -> list[Outcome]:
    verifier, original = kb._verifier, kb._verified
    outcomes: list[Outcome] = []

    def recording(question: str, language: str, clearance: float, entry: str) -> Verdict:
        started = time.perf_counter()
        verdict = original(question, language, clearance, entry)
        outcome = outcomes[-1]
        outcome.latency_ms = (time.perf_counter() - started) * 1000
        outcome.clearance, outcome.verdict = clearance, verdict
        return verdict

    for item in items:
        kb._verifier = None  # the thresholds alone
        outcomes.append(Outcome(item, _doc(kb.answer(item.question, _language(item)))))
        kb._verifier = verifier
        kb._verified = recording  # type: ignore[method-assign]
        try:
            outcomes[-1].on_answer_doc = _doc(kb.answer(item.question, _language(item)))
        finally:
            del kb._verified
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description="The LLM verifier, dev-chosen, test-reported.")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "kb-outside")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    dev_items, test_items = load_qa(SET / "dev.jsonl"), load_qa(SET / "test.jsonl")
    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="kb-verifier-") as tmp,
        llama_server(Path(tmp), threads=args.threads) as url,
    ):
        config = replace(
            KnowledgeConfig(),
            persist_dir=Path(tmp) / "chroma",
            embedding_cache=args.work_dir / "embeddings.sqlite",
            collection="verifier",
            cache_size=0,
            llm=LLMConfig(base_url=url, model=MODEL_ALIAS, timeout_s=60.0),
            llm_verify=True,
        )
        kb = KnowledgeBase(config, detect_language=detect_language)
        try:
            kb.ingest([SET / "corpus.jsonl"])
            started = time.perf_counter()
            dev = _run(kb, dev_items)
            test = _run(kb, test_items)
            elapsed = time.perf_counter() - started
        finally:
            kb.close()
    # Consistency: the recorded verdicts reproduce what answer() did with the verifier on.
    mismatches = sum(
        o.on_answer_doc != (None if o.verdict is Verdict.DOES_NOT_ANSWER else o.answered_doc)
        for o in (*dev, *test)
    )
    by_band = {
        "off": {"dev": _rates(dev, None, False)},
        **{str(b or "every answer"): {"dev": _rates(dev, b, True)} for b in BANDS},
    }
    chosen = max(
        by_band,
        key=lambda k: (by_band[k]["dev"]["decided_right"], -by_band[k]["dev"]["llm_calls"]),
    )
    chosen_band = None if chosen in ("off", "every answer") else float(chosen)
    print(
        json.dumps(
            {
                "set": SET.name,
                "model": "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (llama-cpp-python)",
                "threads": args.threads,
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "seconds": round(elapsed, 1),
                "recorded_vs_answer_mismatches": mismatches,
                "dev_by_band": by_band,
                "chosen_on_dev": chosen,
                "test": {
                    "without_verifier": _rates(test, None, False),
                    "verifier_every_answer": _rates(test, None, True),
                    "at_chosen": _rates(test, chosen_band, chosen != "off"),
                },
                "latency": {"dev": _latency(dev), "test": _latency(test)},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
