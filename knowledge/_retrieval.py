"""Hybrid retrieval: dense (Chroma) and lexical (BM25) lists fused by reciprocal rank, per document.

A document is a policy file's id (both language versions share it) or a FAQ entry's id (its
question wordings and its answer passage share it), so the four ranked lists (questions and
passages, dense and lexical) vote for documents, and recall is measured on document ids.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from knowledge._calibration import SelfCalibration
from knowledge._embeddings import CachedEmbedder
from knowledge._lexical import LexicalIndex, record_tokens
from knowledge._repair import QueryRepair
from knowledge._store import PASSAGES, QUESTIONS, ChromaIndex, StoredRecord, where_clause
from knowledge._text import lexical_tokens, simplified

logger = logging.getLogger(__name__)

# Reciprocal-rank fusion of the dense and the lexical document rankings, weighed on the shipped
# eval set (bench/knowledge.py): BM25 lifts exact terms (codes, names) among documents the dense
# ranking puts close together; weighted higher it pulls in documents that merely share a common
# word (快递, return) and recall@1 drops.
RRF_K = 10
DENSE_WEIGHT = 1.0
LEXICAL_WEIGHT = 0.3
CANDIDATES = 20
FILTER_FIELDS = ("language", "source", "category", "doc_id", "kind")


@dataclass
class DocumentHit:
    """One document's standing for a question: fused score, best similarities, its records."""

    doc_id: str
    score: float = 0.0
    question_similarity: float = 0.0
    passage_similarity: float = 0.0
    lexical: float = 0.0
    questions: list[tuple[str, float]] = field(default_factory=list)  # (record id, similarity)
    passages: list[tuple[str, float]] = field(default_factory=list)

    @property
    def similarity(self) -> float:
        return max(self.question_similarity, self.passage_similarity)


class CorpusView:
    """Every record in memory (text, metadata, BM25 statistics) at one revision of the index."""

    def __init__(
        self,
        questions: Sequence[StoredRecord],
        passages: Sequence[StoredRecord],
        revision: str,
        lexical: Mapping[str, LexicalIndex] | None = None,
    ) -> None:
        self.revision = revision
        # The thresholds the corpus gave itself at this revision (None: not derived yet).
        self.calibration: SelfCalibration | None = None
        self.records: dict[str, StoredRecord] = {r.id: r for r in (*questions, *passages)}
        self._lists = {QUESTIONS: list(questions), PASSAGES: list(passages)}
        self.faq_answers: dict[str, list[StoredRecord]] = {}
        for record in passages:
            if record.metadata.get("kind") == "faq":
                self.faq_answers.setdefault(str(record.metadata.get("doc_id")), []).append(record)
        self._lexical = (
            dict(lexical)
            if lexical is not None
            else {
                kind: LexicalIndex(record_tokens(records)) for kind, records in self._lists.items()
            }
        )
        self._repair: QueryRepair | None = None
        self._columns = {
            kind: {
                name: np.asarray([str(r.metadata.get(name, "")) for r in records], dtype=object)
                for name in FILTER_FIELDS
            }
            for kind, records in self._lists.items()
        }

    def __len__(self) -> int:
        return len(self.records)

    @property
    def repair(self) -> QueryRepair:
        """The colloquial-question repair this corpus's words allow (built on first use; two
        threads that race build the same one)."""
        if self._repair is None:
            self._repair = QueryRepair.of_terms(
                index.document_counts() for index in self._lexical.values()
            )
        return self._repair

    def replacing(
        self,
        sources: Sequence[str],
        questions: Sequence[StoredRecord],
        passages: Sequence[StoredRecord],
        revision: str,
    ) -> CorpusView:
        """A view at ``revision``: this one with every record of ``sources`` replaced by their
        records now (none: the source was deleted). Only the new records' terms are counted;
        the BM25 statistics follow from the kept counts and theirs."""
        gone = set(sources)
        lists: dict[str, list[StoredRecord]] = {}
        lexical: dict[str, LexicalIndex] = {}
        for kind, new in ((QUESTIONS, questions), (PASSAGES, passages)):
            old = self._lists[kind]
            kept = np.fromiter(
                (str(r.metadata.get("source", "")) not in gone for r in old), bool, len(old)
            )
            lists[kind] = [*(r for r, keep in zip(old, kept, strict=True) if keep), *new]
            lexical[kind] = self._lexical[kind].replacing(kept, record_tokens(new))
        return CorpusView(lists[QUESTIONS], lists[PASSAGES], revision, lexical)

    def of_kind(self, kind: str) -> list[StoredRecord]:
        return self._lists[kind]

    def lexical(
        self, kind: str, query: Sequence[str], filters: Mapping[str, Any], k: int
    ) -> list[tuple[str, float]]:
        """The ``k`` best records by BM25 among those the filters let through."""
        scores = self._lexical[kind].scores(query)
        if not len(scores):
            return []
        for name, wanted in filters.items():
            if wanted in (None, "", [], ()):
                continue
            values = self._columns[kind][name]
            allowed = list(wanted) if isinstance(wanted, (list, tuple, set)) else [wanted]
            scores = np.where(np.isin(values, allowed), scores, 0.0)
        top = np.argsort(-scores)[:k]
        records = self._lists[kind]
        return [(records[i].id, float(scores[i])) for i in top if scores[i] > 0]


def check_filters(filters: Mapping[str, Any]) -> None:
    unknown = sorted(set(filters) - set(FILTER_FIELDS))
    if unknown:
        raise ValueError(
            f"unknown filter {', '.join(unknown)}; filter on {', '.join(FILTER_FIELDS)}"
        )


def retrieve(
    view: CorpusView,
    index: ChromaIndex,
    embedder: CachedEmbedder,
    question: str,
    filters: Mapping[str, Any],
    k: int = CANDIDATES,
    *,
    repair: bool = True,
) -> list[DocumentHit]:
    """Documents for the question, best first.

    Each document gets its best dense similarity (over its question wordings and passages) and
    its best BM25 score (each list scaled by its top score); the two document rankings are fused
    by reciprocal rank, so a FAQ entry, which has more records than a policy section, gets no
    extra votes for that. With ``repair`` a Chinese question is first mended towards the
    corpus's words (dialect words, homophone typos, pinyin initials: ``knowledge/_repair.py``).
    """
    question = simplified(question)
    if repair:
        question = view.repair.repair(question)
    vector = embedder.embed_question(question).tolist()
    where = where_clause(filters)
    query_tokens = lexical_tokens(question)
    hits: dict[str, DocumentHit] = {}
    for kind in (QUESTIONS, PASSAGES):
        if not view.of_kind(kind):
            continue
        for record_id, similarity in index.search(kind, vector, k, where):
            _note(hits, view, kind, record_id, similarity)
        lexical = view.lexical(kind, query_tokens, filters, k)
        for record_id, score in lexical:
            hit = _note(hits, view, kind, record_id, None)
            if hit is not None:
                hit.lexical = max(hit.lexical, score / lexical[0][1])  # LEXICAL_TOP: the best
    dense = sorted(hits.values(), key=lambda h: h.similarity, reverse=True)
    lexical_order = sorted(
        (h for h in hits.values() if h.lexical > 0), key=lambda h: h.lexical, reverse=True
    )
    for rank, hit in enumerate(dense, 1):
        hit.score += DENSE_WEIGHT / (RRF_K + rank) if hit.similarity > 0 else 0.0
    for rank, hit in enumerate(lexical_order, 1):
        hit.score += LEXICAL_WEIGHT / (RRF_K + rank)
    return sorted(hits.values(), key=lambda h: h.score, reverse=True)


def _note(
    hits: dict[str, DocumentHit],
    view: CorpusView,
    kind: str,
    record_id: str,
    similarity: float | None,
) -> DocumentHit | None:
    """Remember a record under its document; dense similarities keep the lists ordered."""
    record = view.records.get(record_id)
    if record is None:  # written by another process after our last refresh
        return None
    doc_id = str(record.metadata.get("doc_id", ""))
    hit = hits.setdefault(doc_id, DocumentHit(doc_id))
    records = hit.questions if kind == QUESTIONS else hit.passages
    known = {rid for rid, _ in records}
    if similarity is None:
        if record_id not in known:
            records.append((record_id, 0.0))
        return hit
    if record_id in known:
        records[:] = [(rid, max(s, similarity) if rid == record_id else s) for rid, s in records]
    else:
        records.append((record_id, similarity))
    records.sort(key=lambda item: item[1], reverse=True)
    if kind == QUESTIONS:
        hit.question_similarity = max(hit.question_similarity, similarity)
    else:
        hit.passage_similarity = max(hit.passage_similarity, similarity)
    return hit
