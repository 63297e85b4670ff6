"""BM25 over jieba tokens (Chinese) and words (English), scored as sparse column sums."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.sparse import csc_matrix, csr_matrix, vstack  # type: ignore[import-untyped]

from knowledge._store import StoredRecord
from knowledge._text import LEXICAL_ANALYZER, lexical_tokens

K1 = 1.5
B = 0.75
# rank-bm25's BM25Okapi floors a negative IDF (a term in more than half of the documents) at
# this share of the mean IDF.
EPSILON = 0.25
# rank-bm25 divides by the corpus length, so an empty document is scored as this one token.
EMPTY = "\x00"
# A document whose lexical score (each list scaled by its top score) reaches this holds the best
# BM25 match of a list: the lexical ranking confirms it (an abstention signal, _calibration.py).
LEXICAL_TOP = 1.0 - 1e-6


class LexicalIndex:
    """Okapi BM25 as rank-bm25's ``BM25Okapi`` scores it (k1 1.5, b 0.75, a negative IDF
    floored at 0.25 × the mean IDF; the tests compare the two).

    The term counts of each document are kept as one sparse matrix beside the BM25 weight of
    each (document, term), so a question sums a few weight columns. ``replacing`` makes the
    index of a corpus in which some documents changed from the rows it keeps and the new
    documents alone: after an ingestion of one source a replica counts that source's records,
    not the whole corpus again; the statistics every weight depends on (document count, mean
    length, document frequencies) and the weights themselves are vector operations. Written
    here because rank-bm25 and bm25s build their statistics from the whole corpus at once and
    update none of them."""

    def __init__(self, documents: Sequence[Sequence[str]]) -> None:
        self._columns: dict[str, int] = {}
        self._derive(self._count(documents))

    @property
    def size(self) -> int:
        return int(self._counts.shape[0])

    def _count(self, documents: Sequence[Sequence[str]]) -> csr_matrix:
        """The documents' term counts, new terms getting new columns."""
        indptr = [0]
        cols: list[int] = []
        counts: list[int] = []
        for document in documents:
            for term, count in Counter(document or [EMPTY]).items():
                cols.append(self._columns.setdefault(term, len(self._columns)))
                counts.append(count)
            indptr.append(len(cols))
        return csr_matrix(
            (np.asarray(counts, dtype=np.float64), np.asarray(cols, dtype=np.int64), indptr),
            shape=(len(documents), len(self._columns)),
        )

    def _derive(self, counts: csr_matrix) -> None:
        """The statistics of the corpus whose term counts these are."""
        self._counts = counts
        size = counts.shape[0]
        lengths = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
        frequencies = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float64)
        present = frequencies > 0  # a replaced document's term may be in none now
        idf = np.zeros(counts.shape[1], dtype=np.float64)
        if size and present.any():
            idf[present] = np.log(size - frequencies[present] + 0.5) - np.log(
                frequencies[present] + 0.5
            )
            floor = EPSILON * float(idf[present].mean())
            idf[present & (idf < 0)] = floor
        mean_length = float(lengths.mean()) if size else 1.0
        norm = K1 * (1 - B + B * lengths / mean_length)
        # Each (document, term) weight once, so a question sums a few columns.
        rows = np.repeat(np.arange(size), np.diff(counts.indptr))
        tf = counts.data
        weights = idf[counts.indices] * tf * (K1 + 1) / (tf + norm[rows])
        self._weights = csc_matrix(
            csr_matrix((weights.astype(np.float32), counts.indices, counts.indptr), counts.shape)
        )

    def replacing(
        self, kept: np.ndarray[Any, np.dtype[np.bool_]], documents: Sequence[Sequence[str]]
    ) -> LexicalIndex:
        """The index of this corpus's documents where ``kept`` is true, in their order,
        followed by ``documents``."""
        if len(kept) != self.size:
            raise ValueError(f"kept marks {len(kept)} documents; the index holds {self.size}")
        index = LexicalIndex.__new__(LexicalIndex)
        index._columns = dict(self._columns)
        added = index._count(documents)
        rows = self._counts[np.flatnonzero(kept)]
        widened = csr_matrix(
            (rows.data, rows.indices, rows.indptr), shape=(rows.shape[0], len(index._columns))
        )
        index._derive(csr_matrix(vstack([widened, added], format="csr")))
        return index

    def document_counts(self) -> dict[str, int]:
        """Each term of the corpus and the number of documents that hold it."""
        frequencies = np.bincount(self._counts.indices, minlength=self._counts.shape[1])
        return {
            term: int(frequencies[col])
            for term, col in self._columns.items()
            if col < len(frequencies) and frequencies[col] > 0
        }

    def scores(self, query: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        """The BM25 score of every document for the query tokens (a repeated token counts
        each time, as in rank-bm25)."""
        cols = [self._columns[t] for t in query if t in self._columns]
        if not cols or not self.size:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._weights[:, cols].sum(axis=1), dtype=np.float32).ravel()


def record_tokens(records: Sequence[StoredRecord]) -> list[list[str]]:
    """The BM25 tokens of each record: as ingestion stored them, or, for a record stored by an
    earlier analyzer, its text tokenized again (until the next ingestion of its source)."""
    return [
        str(r.metadata.get("tokens", "")).split()
        if r.metadata.get("analyzer") == LEXICAL_ANALYZER
        else lexical_tokens(r.text)
        for r in records
    ]
