"""BM25 over jieba tokens (Chinese) and words (English), scored as one sparse matrix product."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from rank_bm25 import BM25Okapi
from scipy.sparse import csc_matrix  # type: ignore[import-untyped]

K1 = 1.5
B = 0.75
# A document whose lexical score (each list scaled by its top score) reaches this holds the best
# BM25 match of a list: the lexical ranking confirms it (an abstention signal, _calibration.py).
LEXICAL_TOP = 1.0 - 1e-6


class LexicalIndex:
    """Okapi BM25; rank-bm25 computes the statistics, and the per-term weights are precomputed so
    a query costs a few sparse column sums instead of a Python loop over every document."""

    def __init__(self, documents: Sequence[Sequence[str]]) -> None:
        self.size = len(documents)
        self._columns: dict[str, int] = {}
        if not any(documents):
            self._weights = csc_matrix((self.size, 0), dtype=np.float32)
            return
        # rank-bm25 divides by the corpus length; an empty document still counts as a document.
        bm25 = BM25Okapi([list(d) or ["\x00"] for d in documents], k1=K1, b=B)
        rows: list[int] = []
        cols: list[int] = []
        values: list[float] = []
        for row, (freqs, length) in enumerate(zip(bm25.doc_freqs, bm25.doc_len, strict=True)):
            norm = K1 * (1 - B + B * length / bm25.avgdl)
            for term, tf in freqs.items():
                col = self._columns.setdefault(term, len(self._columns))
                rows.append(row)
                cols.append(col)
                values.append(bm25.idf[term] * tf * (K1 + 1) / (tf + norm))
        self._weights = csc_matrix(
            (np.asarray(values, dtype=np.float32), (rows, cols)),
            shape=(self.size, len(self._columns)),
        )

    def scores(self, query: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        """The BM25 score of every document for the query tokens."""
        cols = [self._columns[t] for t in query if t in self._columns]
        if not cols:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._weights[:, cols].sum(axis=1), dtype=np.float32).ravel()
