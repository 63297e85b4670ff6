"""The answer cache: in memory and in a private Redis server, keyed by the knowledge base's
revision, invalidated by ingestion, with its hit rate and latency in the stats."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import redis

from bot.language import detect_language
from bot.privacy import names_a_person
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
    forget_cached_questions,
)
from knowledge._embeddings import CachedEmbedder, forget_query_vectors
from tests.launch import free_port
from tests.servers import redis_server

FAQ = [
    {"id": "hours", "question": "When are you open?", "answer": "Every day from 9:00 to 18:00."},
    {"id": "parking", "question": "Where can I park?", "answer": "Behind the building, free."},
]
QUESTION = "When are you open?"


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return E5Embedder()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A private Redis server on a free port, stopped after the test."""
    with redis_server() as url:
        yield url


def write_faq(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    return path


def kb_config(folder: Path) -> KnowledgeConfig:
    return KnowledgeConfig(
        persist_dir=folder / "chroma",
        embedding_cache=folder / "embeddings.sqlite",
        faq_threshold=0.9,
        answer_threshold=0.88,
        refresh_interval_s=0.0,
        self_calibrate=False,
    )


def open_kb(
    folder: Path, embedder: Embedder, cache: MemoryAnswerCache | RedisAnswerCache | None = None
) -> KnowledgeBase:
    return KnowledgeBase(
        kb_config(folder), detect_language=detect_language, embedder=embedder, answer_cache=cache
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


class Clock:
    """A clock the test moves by hand (the cache's time to live is days long)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_memory_entry_lives_its_time_to_live_at_most() -> None:
    clock = Clock()
    cache = MemoryAnswerCache(size=10, ttl_s=60, clock=clock)
    answer = Answer.from_dict(
        {"answer": "Open 9-18.", "citations": [], "abstained": False, "kind": "faq"}
        | {"language": "en", "confidence": 0.9, "note": "", "related": []}
    )
    cache.put("r1|en|[]|when are you open", answer)
    clock.now += 59
    assert cache.get("r1|en|[]|when are you open") == answer
    assert cache.stats()["entries"] == 1
    clock.now += 1
    assert cache.stats()["entries"] == 0
    assert cache.get("r1|en|[]|when are you open") is None
    with pytest.raises(ValueError, match="time to live must be positive, not 0"):
        MemoryAnswerCache(ttl_s=0)


def test_forgetting_a_question_reaches_every_revision_language_and_filter() -> None:
    cache = MemoryAnswerCache()
    answer = Answer.from_dict(
        {"answer": "Yes.", "citations": [], "abstained": False, "kind": "faq"}
        | {"language": "en", "confidence": 0.9, "note": "", "related": []}
    )
    keys = [
        "r1|en|[]|do you sell gift cards",
        "r2|zh|[]|do you sell gift cards",
        "r2|en|[('tag', 'a|b')]|do you sell gift cards",  # a "|" inside the filters
        "r2|en|[]|do you sell gift cards in red",  # another question that starts the same
        "r2|en|[]|where can i park",
    ]
    for key in keys:
        cache.put(key, answer)
    assert cache.forget({"do you sell gift cards"}) == 3
    assert [k for k in keys if cache.get(k) is not None] == keys[3:]
    assert cache.forget({"do you sell gift cards"}) == 0


def test_a_question_that_names_someone_is_answered_but_kept_nowhere(
    tmp_path: Path, embedder: Embedder, redis_url: str
) -> None:
    kb = KnowledgeBase(
        kb_config(tmp_path),
        detect_language=detect_language,
        embedder=embedder,
        answer_cache=RedisAnswerCache(redis_url, prefix="p"),
        cacheable=lambda question: not names_a_person(question),
    )
    try:
        kb.ingest([write_faq(tmp_path / "faq.jsonl", FAQ)])
        named = "When are you open? My order is YX2611010001"
        assert kb.answer(named).cached is False
        assert kb.answer(named).cached is False  # asked twice, kept neither time
        assert kb.answer(QUESTION).cached is False
        assert kb.answer(QUESTION).cached is True
        assert kb.stats()["answer_cache"]["entries"] == 1

        # Another process (the hub), which never opened the knowledge base, forgets what a
        # customer asked: the shared entry goes, nothing is loaded for it.
        forgotten = forget_cached_questions(
            kb.config, [f"  {QUESTION.upper()} ", named], RedisAnswerCache(redis_url, prefix="p")
        )
        assert forgotten == {"cached_answers": 1, "query_vectors": 0}
        assert kb.stats()["answer_cache"]["entries"] == 0
        assert kb.answer(QUESTION).cached is False
        # This process forgets its own memory too.
        assert kb.forget([QUESTION]) == {"cached_answers": 1, "query_vectors": 0}
        assert kb.answer(QUESTION).cached is False
    finally:
        kb.close()


def test_query_vectors_that_name_someone_stay_in_memory_and_erasure_deletes_the_rest(
    tmp_path: Path, embedder: Embedder
) -> None:
    path = tmp_path / "vectors.sqlite"
    cached = CachedEmbedder(embedder, path, keep_query=lambda text: not names_a_person(text))
    named = "Call me on 13812345678 about the gift card"
    try:
        vectors = cached.embed_queries(["Do you sell gift cards?", named, "Where can I park?"])
        assert vectors.shape == (3, 384)
        cached.embed_passages(["Gift cards are sold at the front desk."])
    finally:
        cached.close()

    def stored() -> list[tuple[str, int]]:
        with closing(sqlite3.connect(path)) as db:
            return db.execute("SELECT kind, count(*) FROM vectors GROUP BY kind").fetchall()

    assert stored() == [("passage", 1), ("query", 2)]
    # By path, as the hub does when its knowledge base is not open; passages stay.
    assert forget_query_vectors(path, ["Do you sell gift cards?", named]) == 1
    assert stored() == [("passage", 1), ("query", 1)]
    assert forget_query_vectors(tmp_path / "missing.sqlite", ["Where can I park?"]) == 0
    reopened = CachedEmbedder(embedder, path)
    try:
        assert reopened.forget_queries(["Where can I park?"]) == 1
    finally:
        reopened.close()
    assert stored() == [("passage", 1)]
