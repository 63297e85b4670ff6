"""Chunking: Markdown structure first, then sentence ends (Chinese 。！？； included)."""

from __future__ import annotations

from typing import Any

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from knowledge._types import Chunk, FaqEntry, LanguageDetector, LoadedDocument

# Sized for multilingual-e5-small (512 tokens at most): a Chinese character is about one token,
# so 320 characters stay well inside the window and still hold a whole policy clause.
CHUNK_SIZE = 320
CHUNK_OVERLAP = 40
SEPARATORS = [
    "\n\n",
    "\n",
    "。",
    "！",
    "？",
    "；",
    ". ",
    "! ",
    "? ",
    "; ",
    "，",
    ", ",
    " ",
    "",
]
SECTION_SEPARATOR = " › "

_headers = MarkdownHeaderTextSplitter(
    headers_to_split_on=[("#", "h1"), ("##", "h2"), ("###", "h3")], strip_headers=True
)
_sentences = RecursiveCharacterTextSplitter(
    separators=SEPARATORS,
    keep_separator="end",
    chunk_size=CHUNK_SIZE,
    chunk_overlap=CHUNK_OVERLAP,
    strip_whitespace=True,
)


def chunk_document(document: LoadedDocument, detect: LanguageDetector) -> list[Chunk]:
    """Split a document into passages, each knowing its title, section and language (``detect``'s,
    else the document's)."""
    if document.markdown:
        parts = [
            (
                SECTION_SEPARATOR.join(
                    str(part.metadata[key]) for key in ("h2", "h3") if part.metadata.get(key)
                ),
                part.page_content,
            )
            for part in _headers.split_text(document.text)
        ]
    elif document.sections:
        parts = [(section.heading, section.text) for section in document.sections]
    else:
        parts = [("", document.text)]
    chunks: list[Chunk] = []
    for section, text in parts:
        for body in _sentences.split_text(text):
            heading = document.title + (SECTION_SEPARATOR + section if section else "")
            chunks.append(
                Chunk(
                    text=f"{heading}\n{body}",
                    body=body,
                    doc_id=document.doc_id,
                    kind="passage",
                    language=detect(body) or document.language,
                    title=document.title,
                    section=section,
                    category=document.category,
                    url=document.url,
                    position=len(chunks),
                )
            )
    return chunks


def chunk_faq(entry: FaqEntry, position: int = 0) -> list[Chunk]:
    """A FAQ entry as one passage (question and answer) and one record per wording of it."""
    common: dict[str, Any] = {
        "doc_id": entry.doc_id,
        "language": entry.language,
        "title": entry.title or entry.question,
        "section": entry.question,
        "category": entry.category,
        "url": entry.url,
        "position": position,
    }
    passage = Chunk(
        text=f"{entry.question}\n{entry.answer}", body=entry.answer, kind="faq", **common
    )
    wordings = dict.fromkeys((entry.question, *entry.alternatives))
    questions = [
        Chunk(text=wording, body=wording, kind="question", answer=entry.answer, **common)
        for wording in wordings
    ]
    return [passage, *questions]
