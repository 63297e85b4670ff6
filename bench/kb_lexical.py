"""The knowledge base's BM25 index at scale: building it, refreshing it after one source changed,
and scoring a question.

    .venv/bin/python -m bench.kb_lexical [--documents 40000] [--changed 20]
                                         [--against OLD_LEXICAL_PY]

A synthetic corpus (token lists drawn from a Zipf-like vocabulary of 30,000 terms, 12 tokens a
document: about the records of 10,000 FAQ entries) is indexed; then ``--changed`` documents are
replaced, as after an ingestion of one source, both by building the index anew (what a replica
did before) and by ``LexicalIndex.replacing``; then 300 questions of 6 tokens are scored. With
``--against`` (e.g. ``git show REV:knowledge/_lexical.py > /tmp/old.py``) the older module's
build and scoring are timed in the same run, in turns. Prints JSON; seconds are wall time on
this machine, compare within one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from knowledge._lexical import LexicalIndex

VOCABULARY = 30_000
TOKENS = 12
QUESTIONS = 300


def corpus(rng: np.random.Generator, documents: int) -> list[list[str]]:
    ranks = rng.zipf(1.3, size=(documents, TOKENS)) % VOCABULARY
    return [[f"t{r}" for r in row] for row in ranks]


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def query_times(index: Any, questions: list[list[str]]) -> dict[str, float]:
    times: list[float] = []
    for question in questions:
        started = time.perf_counter()
        index.scores(question)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=40_000)
    parser.add_argument("--changed", type=int, default=20)
    parser.add_argument("--against", type=Path, help="an older knowledge/_lexical.py to time too")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    documents = corpus(rng, args.documents)
    changed = corpus(rng, args.changed)
    kept = np.ones(len(documents), dtype=bool)
    kept[-args.changed :] = False  # one source's records, replaced by its new ones
    after = [d for d, keep in zip(documents, kept, strict=True) if keep] + changed
    questions = corpus(rng, QUESTIONS)
    questions = [q[:6] for q in questions]

    build_s, index = timed(lambda: LexicalIndex(documents))
    rebuild_s, rebuilt = timed(lambda: LexicalIndex(after))
    replace_s, replaced = timed(lambda: index.replacing(kept, changed))
    same = all(
        np.allclose(replaced.scores(q), rebuilt.scores(q), rtol=1e-5, atol=1e-5)
        for q in questions[:50]
    )
    report: dict[str, Any] = {
        "documents": args.documents,
        "changed": args.changed,
        "build_s": round(build_s, 3),
        "refresh_by_building_anew_s": round(rebuild_s, 3),
        "refresh_by_replacing_s": round(replace_s, 3),
        "refresh_speed_up": round(rebuild_s / replace_s, 1),
        "replaced_scores_as_built_anew": same,
        "query": query_times(replaced, questions),
    }
    if args.against:
        spec = importlib.util.spec_from_file_location("previous_lexical", args.against)
        if spec is None or spec.loader is None:
            parser.error(f"{args.against} is not a Python module")
        previous = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(previous)
        old_build_s, old = timed(lambda: previous.LexicalIndex(after))
        report["previous"] = {
            "refresh_by_building_anew_s": round(old_build_s, 3),
            "query": query_times(old, questions),
        }
        report["query_again"] = query_times(replaced, questions)  # in turns with the previous
        report["same_scores_as_previous"] = all(
            np.allclose(replaced.scores(q), old.scores(q), rtol=1e-4, atol=1e-4)
            for q in questions[:50]
        )
    report["load_average"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
