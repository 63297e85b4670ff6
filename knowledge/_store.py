"""The Chroma index: two LangChain vector stores (question wordings and passages) and a revision.

Question wordings and passages are both embedded as passages, and a customer's question as a
query: measured on the shipped eval set, matching the question against FAQ wordings embedded as
passages ranks better than e5's symmetric query-to-query mode (recall@1 0.884 against 0.862) and
separates unanswerable questions better (AUC of the best similarity 0.985 against 0.972 for
Chinese questions). The revision, kept in the collection's
metadata, changes with every write: other processes (the action server reads while the hub or the
CLI writes) see it and reopen the client, because a Chroma ``PersistentClient`` keeps its vector
index in memory and would not see another process's writes otherwise.

On a Chroma server (``url``; the scale profile) every replica and the CLI share one store, and a
failed call (the server down, restarting, or answering an error) raises ``StoreUnavailable``
naming the server; the next call opens the collections again, so a server that comes back is
used again without restarting the process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import chromadb
import httpx
import numpy as np
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError
from filelock import FileLock
from langchain_chroma import Chroma

from knowledge._embeddings import CachedEmbedder, LangChainEmbeddings
from knowledge._errors import EmbeddingUnavailable, KnowledgeError, StoreUnavailable

logger = logging.getLogger(__name__)

QUESTIONS = "questions"
PASSAGES = "passages"
_GET_PAGE = 5000
_ADD_BATCH = 4096
# A write that changes more sources than this lists none: readers read everything again.
MAX_LISTED_SOURCES = 100
# Serializes writers across processes: a context manager per write (the wiring's Redis lock on a
# Chroma server, which has no lock of its own; a file lock beside an embedded store).
WriteLock = Callable[[], contextlib.AbstractContextManager[Any]]


@dataclass(frozen=True)
class StoredRecord:
    """A record as stored: its id, text and metadata, and which collection holds it."""

    id: str
    text: str
    metadata: dict[str, Any]
    collection: str


@dataclass(frozen=True)
class Revision:
    """The index's revision, and what its last write changed: the sources (their keys) and the
    revision it was made on; no sources: unknown, read everything."""

    token: str
    after: str = ""
    sources: tuple[str, ...] = ()


class ChromaIndex:
    """Both collections of one knowledge base in Chroma, and the lock that serializes writers."""

    def __init__(
        self,
        embedder: CachedEmbedder,
        collection: str,
        persist_dir: Path | None = None,
        url: str | None = None,
        write_lock: WriteLock | None = None,
    ) -> None:
        self._embedder = embedder
        self._name = collection
        self._persist_dir = persist_dir
        self._url = url
        self._client: Any = None
        self._stores: dict[str, Chroma] = {}
        self._dirty = False
        self._broken = False  # a call failed: open the collections again before the next one
        self._lock = threading.RLock()
        lock_file = FileLock(str(persist_dir / "knowledge-write.lock")) if persist_dir else None
        self._writers: WriteLock = write_lock or (lambda: lock_file or contextlib.nullcontext())
        with self._answering("opening the collections"):
            self._open()

    @property
    def remote(self) -> bool:
        """True on a Chroma server, which every process reads and writes directly."""
        return self._url is not None

    # ---- opening ---------------------------------------------------------------------------

    def _new_client(self) -> Any:
        try:
            if self._url:
                parts = urlsplit(self._url)
                return chromadb.HttpClient(
                    host=parts.hostname or "127.0.0.1",
                    port=parts.port or (443 if parts.scheme == "https" else 8000),
                    ssl=parts.scheme == "https",
                    settings=ChromaSettings(anonymized_telemetry=False),
                )
            if self._persist_dir is not None:
                self._persist_dir.mkdir(parents=True, exist_ok=True)
                return chromadb.PersistentClient(
                    path=str(self._persist_dir),
                    settings=ChromaSettings(anonymized_telemetry=False),
                )
            return chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))
        except Exception as exc:
            where = self._url or self._persist_dir or "memory"
            raise StoreUnavailable(f"cannot open the Chroma store at {where} ({exc})") from exc

    def _open(self) -> None:
        with self._lock:
            self._client = self._new_client()
            self._stores = {
                kind: Chroma(
                    collection_name=f"{self._name}-{kind}",
                    embedding_function=LangChainEmbeddings(self._embedder),
                    client=self._client,
                    collection_configuration={"hnsw": {"space": "cosine"}},
                )
                for kind in (QUESTIONS, PASSAGES)
            }
            meta = self._meta()
            built_with = meta.get("embedding")
            if built_with is None:
                self._set_meta({"embedding": self._embedder.name, "revision": uuid.uuid4().hex})
            elif built_with != self._embedder.name:
                raise EmbeddingUnavailable(
                    f"the knowledge base '{self._name}' was built with the embedding model "
                    f"'{built_with}', not '{self._embedder.name}': use that model, or delete "
                    "the collection and ingest again"
                )

    def reopen(self) -> None:
        """Drop the client and open a fresh one, which reads what other processes wrote."""
        with self._lock:
            self.close()
            self._open()

    @contextlib.contextmanager
    def _answering(self, doing: str) -> Iterator[None]:
        """Map a failed store call to ``StoreUnavailable`` (one place); after one, the next call
        opens the collections again (a restarted server, or one that lost its data)."""
        with self._lock:
            try:
                if self._broken:
                    self.close()
                    self._open()
                    self._broken = False
                yield
            except KnowledgeError:
                raise
            except (httpx.HTTPError, ChromaError, OSError) as exc:
                raise self._unavailable(doing, exc) from exc
            except Exception as exc:
                # chromadb's HTTP client raises a bare Exception for an error answer it cannot
                # parse (a proxy's 502 page, say); anything more specific is a bug, not the store.
                if type(exc) is not Exception:
                    raise
                raise self._unavailable(doing, exc) from exc

    def _unavailable(self, doing: str, exc: Exception) -> StoreUnavailable:
        self._broken = self.remote
        where = f"the Chroma server at {self._url}" if self._url else "the Chroma store"
        logger.warning("%s failed while %s: %s", where, doing, type(exc).__name__)
        hint = "; is it running? (`chroma run`, BOT_CHROMA_URL)" if self._url else ""
        return StoreUnavailable(
            f"{where} did not answer while {doing} ({type(exc).__name__}: {exc}){hint}"
        )

    def close(self) -> None:
        with self._lock:
            if self._client is not None and hasattr(self._client, "close"):
                self._client.close()
            self._client = None
            self._stores = {}

    # ---- revision ----------------------------------------------------------------------------

    def _collection(self, kind: str) -> Any:
        return self._client.get_collection(f"{self._name}-{kind}")

    def _meta(self) -> dict[str, Any]:
        return dict(self._collection(QUESTIONS).metadata or {})

    def _set_meta(self, meta: Mapping[str, Any]) -> None:
        self._collection(QUESTIONS).modify(metadata=dict(meta))

    def revision(self) -> str:
        """A token that changes whenever any process writes to this knowledge base."""
        return self.current().token

    def current(self) -> Revision:
        """The revision and what its write changed, in one request."""
        with self._answering("reading the revision"):
            meta = self._meta()
        listed = str(meta.get("changed_sources", ""))
        return Revision(
            str(meta.get("revision", "")),
            str(meta.get("changed_after", "")),
            tuple(json.loads(listed)) if listed else (),
        )

    def calibration(self) -> str | None:
        """The self-calibration stored with the knowledge base (JSON naming its revision)."""
        with self._answering("reading the calibration"):
            value = self._meta().get("self_calibration")
        return str(value) if value else None

    def set_calibration(self, revision: str, text: str) -> bool:
        """Store a self-calibration made at ``revision``; False (nothing stored) when another
        process wrote to the knowledge base meanwhile, whose own calibration then counts."""
        with self._answering("storing the calibration"), self._writers():
            meta = self._meta()
            if meta.get("revision") != revision:
                return False
            meta["self_calibration"] = text
            self._set_meta(meta)
            return True

    @contextlib.contextmanager
    def writing(self) -> Iterator[set[str]]:
        """Hold the writers' lock, on a client that has seen every earlier write; bump the
        revision afterwards. The caller adds the key of every source it changes to the set it
        gets, so readers one revision behind read those sources again instead of everything."""
        with self._lock, self._writers():
            if self._persist_dir is not None:
                self.reopen()
            self._dirty = False
            changed: set[str] = set()
            try:
                yield changed
            finally:
                if self._dirty:  # readers reload (and drop their caches) only after a change
                    with self._answering("storing the new revision"):
                        meta = self._meta()
                        meta["changed_after"] = str(meta.get("revision", ""))
                        listed = 0 < len(changed) <= MAX_LISTED_SOURCES
                        meta["changed_sources"] = json.dumps(sorted(changed)) if listed else ""
                        meta["revision"] = uuid.uuid4().hex
                        meta["updated"] = time.time()
                        self._set_meta(meta)

    # ---- records -------------------------------------------------------------------------------

    def add(
        self,
        kind: str,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        """Embed and store records (the embedder's cache skips texts it has seen)."""
        if ids:
            self._dirty = True
            # Chroma refuses batches over its maximum (5,461 records here): a FAQ file of 10,000
            # entries with alternative wordings is several batches.
            for start in range(0, len(ids), _ADD_BATCH):
                end = start + _ADD_BATCH
                with self._answering("adding records"):
                    self._stores[kind].add_texts(
                        list(texts[start:end]),
                        metadatas=list(metadatas[start:end]),
                        ids=list(ids[start:end]),
                    )

    def delete(self, kind: str, ids: Sequence[str]) -> None:
        if ids:
            self._dirty = True
            with self._answering("deleting records"):
                self._stores[kind].delete(ids=list(ids))

    def records(self, kind: str, where: dict[str, Any] | None = None) -> list[StoredRecord]:
        """Every record of one collection (or those matching ``where``), in pages."""
        out: list[StoredRecord] = []
        offset = 0
        with self._answering("reading records"):
            while True:
                page = self._stores[kind].get(
                    where=where,
                    limit=_GET_PAGE,
                    offset=offset,
                    include=["documents", "metadatas"],
                )
                for rid, text, meta in zip(
                    page["ids"], page["documents"], page["metadatas"], strict=True
                ):
                    out.append(StoredRecord(rid, text or "", dict(meta or {}), kind))
                if len(page["ids"]) < _GET_PAGE:
                    return out
                offset += _GET_PAGE

    def vectors(self, kind: str) -> dict[str, np.ndarray[Any, np.dtype[np.float32]]]:
        """Every stored vector of one collection by record id (no embedding again)."""
        out: dict[str, np.ndarray[Any, np.dtype[np.float32]]] = {}
        offset = 0
        with self._answering("reading vectors"):
            while True:
                page = self._collection(kind).get(
                    limit=_GET_PAGE, offset=offset, include=["embeddings"]
                )
                for rid, vector in zip(page["ids"], page["embeddings"], strict=True):
                    out[rid] = np.asarray(vector, dtype=np.float32)
                if len(page["ids"]) < _GET_PAGE:
                    return out
                offset += _GET_PAGE

    def search(
        self, kind: str, vector: Sequence[float], k: int, where: dict[str, Any] | None
    ) -> list[tuple[str, float]]:
        """Ids and cosine similarities of the ``k`` nearest records."""
        with self._answering("searching"):
            found = self._stores[kind].similarity_search_by_vector_with_relevance_scores(
                list(vector), k=k, filter=where
            )
        return [(doc.id or "", 1.0 - float(distance)) for doc, distance in found]

    def count(self, kind: str) -> int:
        with self._answering("counting records"):
            return int(self._collection(kind).count())


def where_clause(filters: Mapping[str, Any]) -> dict[str, Any] | None:
    """A Chroma ``where`` from simple filters; a list value means any of these."""
    terms = [
        {key: {"$in": list(value)}} if isinstance(value, (list, tuple, set)) else {key: value}
        for key, value in filters.items()
        if value not in (None, "", [], ())
    ]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else {"$and": terms}
