"""The knowledge base on a Chroma server, as replicas share it: what it costs a replica to check
the revision at every question, and to rebuild its lexical index after another one ingested.
Prints JSON.

    .venv/bin/python -m bench.kb_server [--entries 10000] [--queries 100]

A private ``chroma run`` on a free port in a temporary folder. The corpus is synthetic
(``bench/kb_cache.py``: generated FAQ entries embedded by a hashing stand-in; every customer
question by the real e5 model). One knowledge base ingests; a second one (another replica)
measures:

- ``revision_ms``: one revision read from the server (what every question pays on a server);
- ``rebuild_s``: its view rebuilt after the ingestion: every record fetched from the server
  (``fetch_s``) and the BM25 statistics built from their stored tokens (``bm25_s``);
- ``refresh_one_source_s``: its view refreshed after one more source was ingested (only that
  source's records read again, the BM25 statistics built again);
- ``answer_ms``: uncached answers with the revision checked at every question, against the same
  questions with the check off (refresh once an hour), in turns so load changes hit both alike.
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
from bot.app._engines import private_chroma
from bot.language import detect_language
from knowledge import KnowledgeBase, KnowledgeConfig, set_embedding_threads
from knowledge._retrieval import CorpusView
from knowledge._store import PASSAGES, QUESTIONS


def _open(url: str, folder: Path, name: str, refresh: float | None) -> KnowledgeBase:
    config = KnowledgeConfig(
        chroma_url=url,
        embedding_cache=folder / f"{name}.sqlite",
        refresh_interval_s=refresh,
        cache_size=0,
    )
    return KnowledgeBase(config, detect_language=detect_language, embedder=HashingPassages())


def main() -> None:
    parser = argparse.ArgumentParser(description="A Chroma server shared by replicas.")
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=100)
    add_embedding_threads(parser)
    args = parser.parse_args()
    set_embedding_threads(args.embedding_threads)
    results: dict[str, Any] = {
        "entries": args.entries,
        "embedding_threads": args.embedding_threads,
        "load_before": os.getloadavg(),
    }
    with (
        tempfile.TemporaryDirectory(prefix="kb-server-") as tmp,
        private_chroma(Path(tmp) / "chroma") as url,
    ):
        folder = Path(tmp)
        corpus = folder / "faq.jsonl"
        _corpus(corpus, args.entries)
        writer = _open(url, folder, "writer", None)
        checking = _open(url, folder, "checking", None)
        hourly = _open(url, folder, "hourly", 3600.0)
        try:
            checking.stats()  # built on the empty knowledge base
            started = time.perf_counter()
            writer.ingest([corpus])
            results["ingest_s"] = round(time.perf_counter() - started, 1)
            index = checking._index
            revisions = []
            for _ in range(200):
                started = time.perf_counter()
                index.revision()
                revisions.append((time.perf_counter() - started) * 1000)
            results["revision_ms"] = {"p50": _p(revisions, 50), "p95": _p(revisions, 95)}
            started = time.perf_counter()
            records = index.records(QUESTIONS), index.records(PASSAGES)
            fetched = time.perf_counter()
            view = CorpusView(*records, index.revision())
            built = time.perf_counter()
            results["records"] = len(view)
            results["fetch_s"] = round(fetched - started, 2)
            results["bm25_s"] = round(built - fetched, 2)
            started = time.perf_counter()
            checking.stats()  # what a replica does at its first question after the ingestion
            results["rebuild_s"] = round(time.perf_counter() - started, 2)
            hourly.stats()
            checked: list[float] = []
            unchecked: list[float] = []
            for n, question in enumerate(query_mix(args.queries, seed=5)):
                turns = ((checking, checked, "a"), (hourly, unchecked, "b"))
                for kb, times, own in turns[:: 1 if n % 2 else -1]:
                    started = time.perf_counter()
                    kb.answer(f"{question} {own}")  # own wording: no shared embedding
                    times.append((time.perf_counter() - started) * 1000)
            results["answer_ms"] = {
                "revision_checked": {"p50": _p(checked, 50), "p95": _p(checked, 95)},
                "hourly": {"p50": _p(unchecked, 50), "p95": _p(unchecked, 95)},
            }
            # One more source of 20 entries: a replica one write behind reads only it again.
            extra = folder / "extra.jsonl"
            _corpus(extra, 20)
            extra.write_text(extra.read_text(encoding="utf-8").replace('"id": "', '"id": "x-'))
            writer.ingest([extra])
            started = time.perf_counter()
            checking.stats()
            results["refresh_one_source_s"] = round(time.perf_counter() - started, 2)
        finally:
            for kb in (writer, checking, hourly):
                kb.close()
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
