"""The insights' vector cache: a live server's cache stays bounded; a training cache keeps all;
messages scored at the same time share one embedding."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.insights._emotion import LIVE_CACHE_ENTRIES, EmotionModel, EmotionReading
from bot.insights._vectors import SharedVectors, VectorCache
from knowledge import E5Embedder, Embedder
from knowledge._embeddings import Vectors
from tests.waiting import wait_until


class Counting(Embedder):
    """The real e5 model, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        self.inner = E5Embedder()
        self.name = self.inner.name
        self.embedded: list[str] = []

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        self.embedded.extend(texts)
        return self.inner.embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        self.embedded.extend(texts)
        return self.inner.embed_queries(texts)


def test_a_bounded_cache_drops_the_least_recently_used_and_embeds_it_again() -> None:
    model = Counting()
    cache = VectorCache(model, None, max_entries=2)
    first = cache.embed(["你好"])
    cache.embed(["where is my order"])
    cache.embed(["你好"])  # used again: now the most recent
    cache.embed(["退货运费谁出"])  # the third: "where is my order" goes
    assert len(cache) == 2
    assert model.embedded == ["你好", "where is my order", "退货运费谁出"]
    again = cache.embed(["你好", "where is my order"])
    assert model.embedded[-1] == "where is my order"  # embedded again, "你好" was kept
    np.testing.assert_allclose(again[0], first[0])
    assert len(cache) == 2


def test_an_unbounded_cache_keeps_every_vector_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "cache.npz"
    texts = [f"订单 {n} 到哪了" for n in range(5)]
    VectorCache(Counting(), path).embed(texts)
    model = Counting()
    reopened = VectorCache(model, path)
    reopened.embed(texts)
    assert len(reopened) == 5
    assert model.embedded == []


def test_the_live_emotion_model_keeps_a_bounded_cache() -> None:
    emotions = EmotionModel(E5Embedder())
    emotions.read("我的快递怎么还没到，急死了")
    cache = emotions._vectors  # the bound is what keeps a long-running hub's memory flat
    assert cache._max_entries == LIVE_CACHE_ENTRIES
    assert len(cache) == 1


# Distinct texts whose emotions the shipped heads know (tests/test_insights_emotion.py).
KNOWN = {
    "我的快递五天没动了，会不会丢了？我有点担心": "anxiety",
    "你们这破服务太气人了，我要投诉！": "anger",
    "收到了，质量很好，谢谢你们": "satisfaction",
    "My package hasn't moved in five days, I'm worried it's lost": "anxiety",
    "This is outrageous, your service is a total joke!": "anger",
    "Arrived today and it works great, thank you": "satisfaction",
}
WAIT_S = 60.0


class Gated(Embedder):
    """The real e5 model behind a gate: its first embedding waits until the test opens it (so
    other callers queue meanwhile); records each call's texts; ``broken`` fails every call."""

    def __init__(self, broken: bool = False) -> None:
        self.inner = E5Embedder()
        self.name = self.inner.name
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.broken = broken

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        raise AssertionError("the emotion model embeds queries only")

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        self.calls.append(list(texts))
        self.entered.set()
        if not self.gate.wait(WAIT_S):
            raise AssertionError("the test never opened the gate")
        if self.broken:
            raise RuntimeError("the embedding engine failed")
        return self.inner.embed_queries(texts)


def _read_at_once(model: EmotionModel, embedder: Gated, texts: list[str]) -> dict[str, object]:
    """Each text read by a thread of its own while the first embedding is held at the gate;
    every thread's reading (or error) by text."""
    outcome: dict[str, object] = {}

    def read(text: str) -> None:
        try:
            outcome[text] = model.read(text)
        except Exception as exc:  # noqa: BLE001 - the test checks every thread got it
            outcome[text] = exc

    threads = [threading.Thread(target=read, args=(text,), daemon=True) for text in texts]
    threads[0].start()
    assert embedder.entered.wait(WAIT_S), "the first embedding never started"
    for thread in threads[1:]:
        thread.start()
    # The queue has no event to wait on: its length is polled.
    wait_until(
        lambda: model._shared.queued == len(texts) - 1,
        "every other reader to queue",
        timeout_s=WAIT_S,
    )
    embedder.gate.set()
    for thread in threads:
        thread.join(WAIT_S)
    assert [t.name for t in threads if t.is_alive()] == []
    return outcome


def test_a_batch_gives_the_vectors_of_one_text_at_a_time() -> None:
    embedder = E5Embedder()
    texts = [*KNOWN, "你好", "ok"]
    alone = np.vstack([embedder.embed_queries([text]) for text in texts])
    together = SharedVectors(VectorCache(embedder, None)).embed(texts)
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_readers_at_once_share_one_embedding_and_each_gets_its_own_reading() -> None:
    texts = list(KNOWN)
    alone = EmotionModel(E5Embedder())
    expected = {text: alone.read(text) for text in texts}
    embedder = Gated()
    model = EmotionModel(embedder)
    readings = _read_at_once(model, embedder, texts)
    # The first reader's text alone, then every text that queued meanwhile in one call.
    assert [sorted(call) for call in embedder.calls] == [texts[:1], sorted(texts[1:])]
    assert {text: r.emotion for text, r in readings.items() if isinstance(r, EmotionReading)} == (
        KNOWN
    )
    for text, reading in readings.items():
        assert isinstance(reading, EmotionReading)
        assert reading.positive == pytest.approx(expected[text].positive, abs=1e-3)
        assert reading.confidence == pytest.approx(expected[text].confidence, abs=1e-3)


def test_an_embedding_error_reaches_every_waiting_reader() -> None:
    texts = list(KNOWN)
    embedder = Gated(broken=True)
    outcome = _read_at_once(EmotionModel(embedder), embedder, texts)
    assert sorted(outcome) == sorted(texts)
    assert {type(error).__name__ for error in outcome.values()} == {"RuntimeError"}
    assert len(embedder.calls) == 2  # one failed batch each, nobody left waiting for the engine


def test_a_batch_takes_at_most_its_cap_of_texts() -> None:
    embedder = Gated()
    shared = SharedVectors(VectorCache(embedder, None), max_texts=2)
    texts = list(KNOWN)[:5]
    rows: dict[str, np.ndarray] = {}

    def embed(text: str) -> None:
        rows[text] = shared.embed([text])

    threads = [threading.Thread(target=embed, args=(text,), daemon=True) for text in texts]
    threads[0].start()
    assert embedder.entered.wait(WAIT_S), "the first embedding never started"
    for thread in threads[1:]:
        thread.start()
    wait_until(
        lambda: shared.queued == len(texts) - 1, "every other caller to queue", timeout_s=WAIT_S
    )
    embedder.gate.set()
    for thread in threads:
        thread.join(WAIT_S)
    assert [t.name for t in threads if t.is_alive()] == []
    assert [len(call) for call in embedder.calls] == [1, 2, 2]
    assert sorted(rows) == sorted(texts)
    with pytest.raises(ValueError, match="max_texts must be at least 1"):
        SharedVectors(VectorCache(embedder, None), max_texts=0)
