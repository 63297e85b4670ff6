"""The knowledge base on a real Chroma server (``chroma run`` on a free port in a temporary
folder), as every hub and action-server replica of the scale profile uses it: one store, each
process rebuilding its lexical index from it when the revision changes, checked at every question.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import PROJECT_ROOT, Settings
from bot.app._knowledge import RedisWriteLock, knowledge_config, write_lock
from bot.app._topology import parse_replicas, scale_topology, with_changes
from bot.language import detect_language
from knowledge import E5Embedder, Embedder, KnowledgeBase, KnowledgeConfig, StoreUnavailable
from knowledge._retrieval import DENSE_WEIGHT, LEXICAL_WEIGHT, RRF_K
from tests.servers import ChromaServer, chroma_server, redis_server

FAQ = """\
category: service
faq:
  - id: service-hours
    zh:
      question: 客服什么时间上班？
      answer: 人工客服每天09:00–21:00在线。
    en:
      question: What are your customer service hours?
      answer: Agents are available every day from 09:00 to 21:00.
"""

# A document that only the second ingestion brings: its product code is a rare lexical term.
KETTLE = """\
---
id: kettle-zq7731
language: en
category: products
title: Kettle ZQ7731
---
# Kettle ZQ7731

## Descaling

Descale the ZQ7731 kettle every month with citric acid: fill it halfway, boil, and leave the
water to stand for an hour before rinsing twice.
"""
KETTLE_QUESTION = "How do I descale the ZQ7731 kettle?"
# The fused score of a document ranked first by both the dense and the lexical ranking.
FIRST_IN_BOTH = DENSE_WEIGHT / (RRF_K + 1) + LEXICAL_WEIGHT / (RRF_K + 1)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return E5Embedder()


@pytest.fixture
def server() -> Iterator[ChromaServer]:
    with chroma_server() as running:
        yield running


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "faq.yaml").write_text(FAQ, encoding="utf-8")
    return folder


def open_replica(
    server: ChromaServer, embedder: Embedder, cache: Path, lock: RedisWriteLock | None = None
) -> KnowledgeBase:
    """A knowledge base as one replica opens it: the server's URL, no folder of its own, and the
    default refresh (every question on a server)."""
    config = KnowledgeConfig(
        chroma_url=server.url, embedding_cache=cache, faq_threshold=0.9, answer_threshold=0.84
    )
    return KnowledgeBase(
        config, detect_language=detect_language, embedder=embedder, write_lock=lock
    )


@pytest.fixture
def replicas(
    server: ChromaServer, embedder: Embedder, tmp_path: Path
) -> Iterator[tuple[KnowledgeBase, KnowledgeBase]]:
    one = open_replica(server, embedder, tmp_path / "one.sqlite")
    two = open_replica(server, embedder, tmp_path / "two.sqlite")
    yield one, two
    one.close()
    two.close()


def test_an_ingestion_through_one_replica_is_answered_by_the_other_at_once(
    replicas: tuple[KnowledgeBase, KnowledgeBase], corpus: Path
) -> None:
    one, two = replicas
    assert one.ingest([corpus]).failed == {}
    assert two.answer("客服几点上班？").kind == "faq"
    before = two.rank(KETTLE_QUESTION)  # two's lexical index is built, without the kettle
    assert "kettle-zq7731" not in [d.doc_id for d in before]

    (corpus / "kettle.en.md").write_text(KETTLE, encoding="utf-8")
    assert one.ingest([corpus]).added == [str((corpus / "kettle.en.md").resolve())]
    # No wait: the next question on the other replica sees the new revision.
    ranked = two.rank(KETTLE_QUESTION)
    assert ranked[0].doc_id == "kettle-zq7731"
    # First in the dense ranking (Chroma) and in the BM25 ranking rebuilt from the server.
    assert ranked[0].score == pytest.approx(FIRST_IN_BOTH)
    answer = two.answer(KETTLE_QUESTION)
    assert (answer.kind, answer.citations[0].doc_id) == ("extractive", "kettle-zq7731")
    assert "citric acid" in answer.answer
    assert two.stats()["revision"] == one.stats()["revision"]

    assert one.delete("kettle.en.md") == 1
    assert "kettle-zq7731" not in [d.doc_id for d in two.rank(KETTLE_QUESTION)]
    assert "kettle-zq7731" not in [c.doc_id for c in two.answer(KETTLE_QUESTION).citations]
    assert [Path(s.source).name for s in two.sources()] == ["faq.yaml"]


def test_a_replica_one_write_behind_reads_only_the_changed_sources_again(
    replicas: tuple[KnowledgeBase, KnowledgeBase],
    server: ChromaServer,
    embedder: Embedder,
    corpus: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    one, two = replicas
    one.ingest([corpus])
    two.stats()
    (corpus / "kettle.en.md").write_text(KETTLE, encoding="utf-8")
    one.ingest([corpus])
    caplog.clear()  # only what the lagging replica logs while it answers
    with caplog.at_level(logging.INFO, logger="knowledge._base"):
        ranked = two.rank(KETTLE_QUESTION)
    assert "refreshed: 1 source(s) read again" in caplog.text
    assert "Knowledge base loaded" not in caplog.text
    # The same as a replica that reads everything.
    fresh = open_replica(server, embedder, tmp_path / "fresh.sqlite")
    try:
        full = fresh.rank(KETTLE_QUESTION)
        assert [(d.doc_id, round(d.score, 6)) for d in ranked] == [
            (d.doc_id, round(d.score, 6)) for d in full
        ]
        assert two.sources() == fresh.sources()
    finally:
        fresh.close()
    # Two writes behind: everything is read again.
    one.delete("kettle.en.md")
    one.delete("faq.yaml")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="knowledge._base"):
        assert two.sources() == []
    assert "Knowledge base loaded: 0 records" in caplog.text


def test_an_ingestion_by_the_cli_in_another_process_is_seen(
    server: ChromaServer, embedder: Embedder, corpus: Path, tmp_path: Path
) -> None:
    replica = open_replica(server, embedder, tmp_path / "replica.sqlite")
    try:
        assert replica.stats()["sources"] == 0
        (corpus / "kettle.en.md").write_text(KETTLE, encoding="utf-8")
        env = {
            **os.environ,
            "BOT_CHROMA_URL": server.url,
            "BOT_VAR_DIR": str(tmp_path / "cli-var"),
            "BOT_KNOWLEDGE_FAQ_THRESHOLD": "0.9",
            "BOT_KNOWLEDGE_ANSWER_THRESHOLD": "0.84",
        }
        done = subprocess.run(
            [sys.executable, "-m", "bot", "kb", "ingest", str(corpus), "--no-progress"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        ranked = replica.rank(KETTLE_QUESTION)
        assert ranked[0].doc_id == "kettle-zq7731"
        assert ranked[0].score == pytest.approx(FIRST_IN_BOTH)
        assert replica.stats()["sources"] == 2
    finally:
        replica.close()


def test_a_chroma_server_restart_fails_clearly_and_is_survived(
    replicas: tuple[KnowledgeBase, KnowledgeBase], server: ChromaServer, corpus: Path
) -> None:
    one, two = replicas
    one.ingest([corpus])
    answered = two.answer("What are your customer service hours?")
    assert answered.kind == "faq"

    server.stop()
    with pytest.raises(StoreUnavailable) as down:
        two.answer("What are your customer service hours?")
    assert f"the Chroma server at {server.url} did not answer" in str(down.value)
    (corpus / "kettle.en.md").write_text(KETTLE, encoding="utf-8")
    with pytest.raises(StoreUnavailable):
        one.ingest([corpus])

    server.start()  # same port, same data; neither knowledge base is opened again
    again = two.answer("What are your customer service hours?")
    assert (again.kind, again.answer) == ("faq", answered.answer)
    report = one.ingest([corpus])  # what failed while the server was down is ingested now
    assert report.added == [str((corpus / "kettle.en.md").resolve())]
    assert two.rank(KETTLE_QUESTION)[0].doc_id == "kettle-zq7731"


def test_a_knowledge_base_cannot_be_opened_on_a_server_that_is_down(
    server: ChromaServer, embedder: Embedder, tmp_path: Path
) -> None:
    server.stop()
    with pytest.raises(StoreUnavailable, match=server.url.split("//")[1]):
        open_replica(server, embedder, tmp_path / "cache.sqlite")


def test_writers_on_one_server_take_turns_through_redis(
    server: ChromaServer, embedder: Embedder, corpus: Path, tmp_path: Path
) -> None:
    with redis_server() as url:
        # Another replica's ingestion, holding a short lease that its renewal keeps.
        other = RedisWriteLock(url, "bot:kb-write:knowledge", lease_s=0.3)
        impatient = RedisWriteLock(url, "bot:kb-write:knowledge", wait_s=1.0)
        replica = open_replica(server, embedder, tmp_path / "cache.sqlite", impatient)
        try:
            with other():
                # 1 s of waiting is three of the other's leases: renewed, not expired.
                with pytest.raises(StoreUnavailable, match="another process has been writing"):
                    replica.ingest([corpus])
                assert replica.stats()["sources"] == 0
            assert len(replica.ingest([corpus]).added) == 1
        finally:
            replica.close()
        with other():  # the replica released it when its ingestion ended
            pass


def test_every_replica_reads_the_one_chroma_server(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=tmp_path,
        profile="scale",
        database_url="postgresql+psycopg://bot:secret@db:5432/hub",
        redis_url="redis://cache:6380/2",
        chroma_url="http://127.0.0.1:8765",
    )
    topology = scale_topology(settings, tmp_path / "m.tar.gz", parse_replicas("hub=2,actions=2"))
    readers = [p for p in topology.processes if p.name.startswith(("hub-", "actions-"))]
    assert len(readers) == 4
    assert {p.env["BOT_CHROMA_URL"] for p in readers} == {"http://127.0.0.1:8765"}
    config = knowledge_config(settings)
    assert (config.chroma_url, config.persist_dir) == ("http://127.0.0.1:8765", None)
    assert isinstance(write_lock(settings), RedisWriteLock)  # writers take turns across replicas
    assert write_lock(with_changes(settings, profile="embedded", chroma_url=None)) is None
