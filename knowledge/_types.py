"""Plain data crossing the knowledge base's border: sources, chunks, hits, answers, reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

AnswerKind = Literal["faq", "extractive", "generated", "abstained"]
ChunkKind = Literal["passage", "faq", "question"]


# The platform's one zh/en detector, passed in by the caller: a text's language ("zh" or
# "en"), or None when it cannot say.
LanguageDetector = Callable[[str], str | None]


@dataclass(frozen=True)
class Section:
    """A titled part of a document, in reading order."""

    heading: str
    text: str


@dataclass(frozen=True)
class LoadedDocument:
    """A document as its loader read it, before chunking."""

    doc_id: str
    title: str
    language: str
    text: str
    markdown: bool  # Markdown structure (headings) to split on
    category: str = ""
    url: str = ""
    sections: tuple[Section, ...] = ()  # pages of a PDF; empty for Markdown and plain text


@dataclass(frozen=True)
class FaqEntry:
    """One question with its answer in one language; alternatives are other wordings."""

    doc_id: str
    language: str
    question: str
    answer: str
    alternatives: tuple[str, ...] = ()
    category: str = ""
    title: str = ""
    url: str = ""


@dataclass(frozen=True)
class LoadedSource:
    """Everything one file yields."""

    documents: tuple[LoadedDocument, ...] = ()
    faqs: tuple[FaqEntry, ...] = ()


@dataclass(frozen=True)
class Chunk:
    """One indexed record: a passage of a document, a FAQ entry, or one wording of a question.

    ``text`` is what is embedded and matched (the heading line and the body); ``body`` is what is
    shown.
    """

    text: str
    body: str
    doc_id: str
    kind: ChunkKind
    language: str
    title: str
    section: str = ""
    category: str = ""
    url: str = ""
    answer: str = ""  # a FAQ's answer, on its question records
    position: int = 0


@dataclass(frozen=True)
class Citation:
    """Where an answer comes from."""

    n: int
    doc_id: str
    title: str
    section: str
    source: str
    language: str
    url: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RelatedQuestion:
    """A FAQ question close to the customer's, offered beside an answer to ask with one tap."""

    doc_id: str
    question: str
    language: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """The knowledge base's reply to one question.

    ``kind`` says how it was made; ``abstained`` is true when nothing reliable was found, and then
    ``answer`` says so in the customer's language. ``note`` explains a fallback (a rejected
    generated answer, a passage only found in the other language). ``related`` are other FAQ
    questions nearly as close as the one answered, in case the answer missed what was meant.
    """

    answer: str
    citations: tuple[Citation, ...]
    abstained: bool
    kind: AnswerKind
    language: str
    confidence: float
    cached: bool = False
    note: str = ""
    related: tuple[RelatedQuestion, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["citations"] = [c.to_dict() for c in self.citations]
        data["related"] = [r.to_dict() for r in self.related]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        """An answer back from :meth:`to_dict` (a shared cache stores answers as JSON)."""
        return cls(
            answer=str(data["answer"]),
            citations=tuple(Citation(**c) for c in data["citations"]),
            abstained=bool(data["abstained"]),
            kind=data["kind"],
            language=str(data["language"]),
            confidence=float(data["confidence"]),
            cached=bool(data.get("cached", False)),
            note=str(data.get("note", "")),
            related=tuple(RelatedQuestion(**r) for r in data.get("related", ())),
        )


@dataclass(frozen=True)
class Hit:
    """One retrieved record with its scores; ``score`` is the fused rank score."""

    id: str
    doc_id: str
    kind: ChunkKind
    language: str
    text: str
    metadata: dict[str, Any]
    score: float
    similarity: float  # cosine similarity of the question and this record, 0 when not dense-ranked
    lexical: float  # BM25 score, 0 when not lexically ranked


@dataclass
class IngestReport:
    """What one ingestion did, per source; ``failed`` maps a source to why it was skipped."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    chunks_added: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deleted)

    @property
    def chunks_per_s(self) -> float:
        return self.chunks_added / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["chunks_per_s"] = round(self.chunks_per_s, 1)
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass(frozen=True)
class SourceInfo:
    """One ingested source file."""

    source: str
    doc_ids: tuple[str, ...]
    chunks: int
    languages: tuple[str, ...]
    content_hash: str
    updated: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
