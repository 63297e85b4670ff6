"""Sentence vectors for the insights models: e5 through the knowledge library, cached by text."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, cast

import numpy as np

from knowledge import Embedder

logger = logging.getLogger(__name__)

Matrix = np.ndarray[Any, np.dtype[np.float32]]
Progress = Callable[[int, int], None]
CHUNK = 64
# Texts embedded together at most: e5 costs about a fifth less per short text in a batch of 8-32
# than one at a time, and a larger batch would only keep its first callers waiting longer.
MAX_BATCH_TEXTS = 32


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class VectorCache:
    """Vectors of texts already embedded, kept in one ``.npz`` file (training runs repeat texts).

    Hand-written rather than the knowledge library's SQLite cache: that one is private to the
    library, and a training run needs only a dictionary that survives between runs.
    """

    def __init__(
        self, embedder: Embedder, path: Path | None, max_entries: int | None = None
    ) -> None:
        """``max_entries``: keep at most this many vectors, the least recently used go first
        (a long-running server sees every customer message once; a training run keeps all)."""
        self._embedder = embedder
        self._path = path
        self._max_entries = max_entries
        self._vectors: OrderedDict[str, Matrix] = OrderedDict()
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as stored:
                keys, rows = stored["keys"], stored["vectors"]
                self._vectors = OrderedDict((str(k), rows[i]) for i, k in enumerate(keys))
        self._trim()

    def __len__(self) -> int:
        return len(self._vectors)

    def _trim(self) -> None:
        if self._max_entries is not None:
            while len(self._vectors) > self._max_entries:
                self._vectors.popitem(last=False)

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> Matrix:
        """One normalized row per text (e5 "query:" mode, which suits short messages)."""
        missing = sorted({_key(t): t for t in texts if _key(t) not in self._vectors}.items())
        for start in range(0, len(missing), CHUNK):
            chunk = missing[start : start + CHUNK]
            rows = self._embedder.embed_queries([text for _, text in chunk])
            for (key, _), row in zip(chunk, rows, strict=True):
                self._vectors[key] = row
            if progress is not None:
                progress(min(start + CHUNK, len(missing)), len(missing))
            if start // CHUNK % 10 == 9:
                self.save()  # a long first run keeps what it has done if it is stopped
        if missing:
            self.save()
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        found: list[Matrix] = []
        for text in texts:
            key = _key(text)
            found.append(self._vectors[key])
            self._vectors.move_to_end(key)
        self._trim()
        return np.vstack(found).astype(np.float32)

    def forget(self, texts: Sequence[str]) -> int:
        """Drop these texts' vectors, and write the file when some went (a customer's
        erasure); how many went."""
        gone = sum(self._vectors.pop(_key(text), None) is not None for text in set(texts))
        if gone:
            self.save()
        return gone

    def save(self) -> None:
        """Write the cache file (nothing without a path)."""
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._vectors), dtype=str)
        rows = np.vstack(list(self._vectors.values())) if self._vectors else np.zeros((0, 384))
        temporary = self._path.with_suffix(".tmp.npz")
        np.savez(temporary, keys=keys, vectors=rows.astype(np.float32))
        temporary.replace(self._path)


class SharedVectors:
    """A ``VectorCache`` that threads read at once: texts asked for while an embedding runs are
    embedded together in the next one, a single e5 call (leader and followers).

    Each caller queues its texts and waits for the engine; whoever gets it first embeds every
    queued text (oldest first, up to ``max_texts``) and hands each caller its own rows, so the
    callers who came meanwhile find their answer ready. A failed embedding raises its error in
    every caller of that batch. Rows are the same as one text at a time: e5 pads each text on
    its own.
    """

    def __init__(self, cache: VectorCache, max_texts: int = MAX_BATCH_TEXTS) -> None:
        if max_texts < 1:
            raise ValueError(f"max_texts must be at least 1, not {max_texts}")
        self._cache = cache
        self._max_texts = max_texts
        self._queued: deque[tuple[list[str], Future[Matrix]]] = deque()
        self._queue_lock = threading.Lock()
        # The cache and the engine serve one batch at a time.
        self._engine = threading.Lock()

    def forget(self, texts: Sequence[str]) -> int:
        """Drop these texts' vectors (between two embeddings); how many went."""
        with self._engine:
            return self._cache.forget(texts)

    @property
    def queued(self) -> int:
        """Callers whose texts wait for an embedding."""
        with self._queue_lock:
            return len(self._queued)

    def embed(self, texts: Sequence[str]) -> Matrix:
        """One normalized row per text, embedded with whatever other callers asked meanwhile."""
        answer: Future[Matrix] = Future()
        with self._queue_lock:
            self._queued.append((list(texts), answer))
        while not answer.done():
            with self._engine:
                if not answer.done():  # else the batch before this caller's turn carried it
                    self._embed_queued()
        return answer.result()

    def _embed_queued(self) -> None:
        """Embed the oldest queued requests in one call and answer each (engine held)."""
        with self._queue_lock:
            batch = [self._queued.popleft()]
            count = len(batch[0][0])
            while self._queued and count + len(self._queued[0][0]) <= self._max_texts:
                batch.append(self._queued.popleft())
                count += len(batch[-1][0])
        try:
            rows = self._cache.embed([text for texts, _ in batch for text in texts])
        except BaseException as exc:  # noqa: BLE001 - handed to every caller, none may hang
            for _, answer in batch:
                answer.set_exception(exc)
            return
        start = 0
        for texts, answer in batch:
            answer.set_result(rows[start : start + len(texts)])
            start += len(texts)


def forget_cached_vectors(path: Path, texts: Sequence[str]) -> int:
    """Drop these texts' vectors from a cache file (a customer's erasure); how many went. The
    embedder is never called: nothing is embedded."""
    if not path.is_file():
        return 0
    return VectorCache(cast(Embedder, None), path).forget(texts)
