"""Content-based: multilingual embeddings of each item's names and description.

Items nobody has touched yet get a vector from their text alone, so they can be recommended from
day one; a user's taste is the weighted mean of the vectors of what they interacted with.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from bot.recommend._base import Recommender
from bot.recommend._errors import RecommendError
from bot.recommend._interactions import Interactions
from bot.recommend._types import Reason

logger = logging.getLogger(__name__)


class TextEmbedder(Protocol):
    """What the content model needs of an embedding model (``knowledge.E5Embedder`` fits)."""

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


class MemoEmbedder:
    """Keeps every passage vector it made in memory, so refitting (tuning, evaluation
    protocols) embeds each item text once."""

    def __init__(self, inner: TextEmbedder) -> None:
        self.inner = inner
        self._passages: dict[str, np.ndarray] = {}

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._passages))
        if missing:
            vectors = np.asarray(self.inner.embed_passages(missing), dtype=np.float32)
            self._passages.update(zip(missing, vectors, strict=True))
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack([self._passages[t] for t in texts])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.inner.embed_queries(texts), dtype=np.float32)


class ContentModel(Recommender):
    """Cosine similarity of item text embeddings to the user's taste vector."""

    name = "content"

    def __init__(self, embedder: TextEmbedder) -> None:
        super().__init__()
        self.embedder = embedder
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._known = np.zeros(0, dtype=bool)
        self._cache: dict[str, np.ndarray] = {}

    def _fit(self, interactions: Interactions) -> None:
        texts = {
            item: found.text()
            for item in interactions.items
            if (found := interactions.catalogue.get(item)) is not None
        }
        if not texts:
            raise RecommendError(
                "the content model needs item texts; import a catalogue with names and "
                "descriptions for these items"
            )
        fresh = [item for item in texts if item not in self._cache]
        if fresh:
            vectors = np.asarray(self.embedder.embed_passages([texts[i] for i in fresh]))
            self._cache.update(zip(fresh, vectors.astype(np.float32), strict=True))
        width = next(iter(self._cache.values())).shape[0]
        self._vectors = np.zeros((len(interactions.items), width), dtype=np.float32)
        self._known = np.zeros(len(interactions.items), dtype=bool)
        for index, item in enumerate(interactions.items):
            if item in texts:
                self._vectors[index] = self._cache[item]
                self._known[index] = True
        norms = np.linalg.norm(self._vectors, axis=1, keepdims=True)
        self._vectors /= np.where(norms > 0, norms, 1.0)
        logger.info("Content model: %d of %d items have text", len(texts), len(interactions.items))

    def __getstate__(self) -> dict[str, object]:
        # The embedding model is not saved with the vectors: the loader attaches one.
        state = dict(self.__dict__)
        state["embedder"] = None
        return state

    @property
    def item_vectors(self) -> np.ndarray:
        """Unit-length text vectors, one row per item (zeros for items without text)."""
        return self._vectors

    def taste(self, user: str) -> np.ndarray | None:
        """The user's taste vector: the weighted mean of their items' vectors."""
        indices, weights = self.data.history(user)
        keep = self._known[indices] if indices.size else indices.astype(bool)
        if not keep.any():
            return None
        vector = np.log1p(weights[keep]) @ self._vectors[indices[keep]]
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else None

    def user_scores(self, user: str) -> np.ndarray | None:
        vector = self.taste(user)
        if vector is None:
            return None
        return np.where(self._known, self._vectors @ vector, -np.inf)

    def item_scores(self, item: str) -> np.ndarray | None:
        index = self.data.item_index.get(item)
        if index is None or not self._known[index]:
            return None
        return np.where(self._known, self._vectors @ self._vectors[index], -np.inf)

    def text_scores(self, text: str) -> np.ndarray:
        """How well every item matches a request in words ("a gift for my dad who runs")."""
        query = np.asarray(self.embedder.embed_queries([text]))[0].astype(np.float32)
        query /= float(np.linalg.norm(query)) or 1.0
        return np.where(self._known, self._vectors @ query, -np.inf)

    def explain(self, user: str, item: str) -> Reason:
        indices, _weights = self.data.history(user)
        index = self.data.item_index.get(item)
        if index is None or indices.size == 0:
            return Reason(self.name, "与您的需求相符", "Matches what you asked for")
        similarity = self._vectors[indices] @ self._vectors[index]
        best = self.data.items[int(indices[int(np.argmax(similarity))])]
        return Reason(
            self.name,
            f"与您看过的「{self.item_name(best, 'zh')}」相似",
            f"Similar to {self.item_name(best, 'en')}, which you viewed",
        )
