"""The insights' vector cache: a live server's cache stays bounded; a training cache keeps all."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.insights._emotion import LIVE_CACHE_ENTRIES, EmotionModel
from bot.insights._vectors import VectorCache
from knowledge import E5Embedder, Embedder
from knowledge._embeddings import Vectors


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
