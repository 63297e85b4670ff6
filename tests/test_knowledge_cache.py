"""The answer cache: in memory and in a private Redis server, keyed by the knowledge base's
revision, invalidated by ingestion, with its hit rate and latency in the stats."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.language import detect_language
from knowledge import (
    Answer,
    Citation,
    E5Embedder,
    Embedder,
    KnowledgeBase,
    KnowledgeConfig,
    MemoryAnswerCache,
    RedisAnswerCache,
    RelatedQuestion,
)
from tests.launch import free_port

FAQ = [
    {"id": "hours", "question": "When are you open?", "answer": "Every day from 9:00 to 18:00."},
    {"id": "parking", "question": "Where can I park?", "answer": "Behind the building, free."},
]
QUESTION = "When are you open?"


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return E5Embedder()


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private Redis server on a free port, stopped after the test."""
    port = free_port()
    server = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--dir", str(tmp_path)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis(port=port, socket_timeout=1).ping():
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)  # poll interval while the server starts
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def write_faq(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    return path


def open_kb(
    folder: Path, embedder: Embedder, cache: MemoryAnswerCache | RedisAnswerCache | None = None
) -> KnowledgeBase:
    config = KnowledgeConfig(
        persist_dir=folder / "chroma",
        embedding_cache=folder / "embeddings.sqlite",
        faq_threshold=0.9,
        answer_threshold=0.88,
        refresh_interval_s=0.0,
        self_calibrate=False,
    )
    return KnowledgeBase(
        config, detect_language=detect_language, embedder=embedder, answer_cache=cache
    )


def test_answer_round_trips_through_a_dict() -> None:
    answer = Answer(
        answer="Every day from 9:00 to 18:00.",
        citations=(Citation(1, "hours", "When are you open?", "", "faq.jsonl", "en", ""),),
        abstained=False,
        kind="faq",
        language="en",
        confidence=0.97,
        note="",
        related=(RelatedQuestion("parking", "Where can I park?", "en"),),
    )
    assert Answer.from_dict(json.loads(json.dumps(answer.to_dict()))) == answer


def test_memory_cache_serves_the_same_question_however_typed(
    tmp_path: Path, embedder: Embedder
) -> None:
    kb = open_kb(tmp_path, embedder)
    try:
        faq = write_faq(tmp_path / "faq.jsonl", FAQ)
        kb.ingest([faq])
        first = kb.answer(QUESTION)
        again = kb.answer("  when are you OPEN ")
        assert (first.cached, again.cached) == (False, True)
        assert again.answer == first.answer == "Every day from 9:00 to 18:00."
        cache = kb.stats()["answer_cache"]
        assert {k: cache[k] for k in ("backend", "entries", "hits", "misses", "hit_rate")} == {
            "backend": "memory",
            "entries": 1,
            "hits": 1,
            "misses": 1,
            "hit_rate": 0.5,
        }
        assert cache["cached_ms_p95"] < cache["uncached_ms_p95"]

        # Ingestion changes the revision: the new answer, not the cached one.
        write_faq(faq, [{**FAQ[0], "answer": "Every day from 8:00 to 20:00."}, FAQ[1]])
        kb.ingest([faq])
        fresh = kb.answer(QUESTION)
        assert (fresh.cached, fresh.answer) == (False, "Every day from 8:00 to 20:00.")
    finally:
        kb.close()


def test_redis_cache_is_shared_between_processes_and_invalidated_by_ingestion(
    tmp_path: Path, embedder: Embedder, redis_url: str
) -> None:
    # Two knowledge bases on the same index and the same Redis stand for two processes (the
    # hub and the action server).
    writer = open_kb(tmp_path, embedder, RedisAnswerCache(redis_url, prefix="t"))
    reader = open_kb(tmp_path, embedder, RedisAnswerCache(redis_url, prefix="t"))
    try:
        faq = write_faq(tmp_path / "faq.jsonl", FAQ)
        writer.ingest([faq])
        first = writer.answer(QUESTION)
        shared = reader.answer(QUESTION)
        assert (first.cached, shared.cached) == (False, True)
        assert shared.answer == first.answer
        assert shared.citations == first.citations
        stats = reader.stats()["answer_cache"]
        assert {k: stats[k] for k in ("backend", "hits", "misses", "hit_rate")} == {
            "backend": "redis",
            "hits": 1,
            "misses": 1,
            "hit_rate": 0.5,
        }
        assert stats["entries"] == 1

        write_faq(faq, [{**FAQ[0], "answer": "Closed on Sundays."}, FAQ[1]])
        writer.ingest([faq])
        after = reader.answer(QUESTION)
        assert (after.cached, after.answer) == (False, "Closed on Sundays.")
    finally:
        writer.close()
        reader.close()


def test_a_corrupt_cached_answer_is_answered_afresh(
    tmp_path: Path, embedder: Embedder, redis_url: str
) -> None:
    kb = open_kb(tmp_path, embedder, RedisAnswerCache(redis_url, prefix="c"))
    try:
        kb.ingest([write_faq(tmp_path / "faq.jsonl", FAQ)])
        kb.answer(QUESTION)
        client = redis.Redis.from_url(redis_url)
        (key,) = client.keys("c:a:*")
        client.set(key, "<script>alert(1)</script>")
        answer = kb.answer(QUESTION)
        assert (answer.cached, answer.answer) == (False, "Every day from 9:00 to 18:00.")
    finally:
        kb.close()


def test_answers_go_on_when_redis_is_down(tmp_path: Path, embedder: Embedder) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    kb = open_kb(tmp_path, embedder, RedisAnswerCache(dead, prefix="d"))
    try:
        kb.ingest([write_faq(tmp_path / "faq.jsonl", FAQ)])
        answer = kb.answer(QUESTION)
        assert (answer.cached, answer.abstained) == (False, False)
        assert kb.stats()["answer_cache"]["backend"] == "redis"
        assert "Redis unavailable" in kb.stats()["answer_cache"]["error"]
    finally:
        kb.close()


@pytest.mark.parametrize(
    ("url", "ttl", "message"),
    [
        ("http://example.org", 60, "is not a Redis URL"),
        ("redis://127.0.0.1:6379/0", 0, "time to live must be positive, not 0"),
    ],
)
def test_bad_cache_settings_are_named(url: str, ttl: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisAnswerCache(url, ttl_s=ttl)
