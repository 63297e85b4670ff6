"""Sentence vectors for the insights models: e5 through the knowledge library, cached by text."""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knowledge import Embedder

logger = logging.getLogger(__name__)

Matrix = np.ndarray[Any, np.dtype[np.float32]]
Progress = Callable[[int, int], None]
CHUNK = 64


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
