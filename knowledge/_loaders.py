"""Loaders: one file in, documents and FAQ entries out; every failure says what is wrong with it."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from bs4 import BeautifulSoup

from knowledge._errors import InvalidSource, UnsupportedSource
from knowledge._types import FaqEntry, LoadedDocument, LoadedSource, Section

logger = logging.getLogger(__name__)

ImageToText = Callable[[Path], str]

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
TEXT_SUFFIXES = frozenset({".txt"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
FAQ_SUFFIXES = frozenset({".yaml", ".yml", ".csv", ".jsonl", ".json"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
SUPPORTED_SUFFIXES = (
    MARKDOWN_SUFFIXES
    | TEXT_SUFFIXES
    | HTML_SUFFIXES
    | FAQ_SUFFIXES
    | IMAGE_SUFFIXES
    | {".pdf", ".docx"}
)

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
_QUESTION_KEYS = ("question", "q")
_ANSWER_KEYS = ("answer", "a")
_ALTERNATIVE_KEYS = ("alternatives", "alternative_questions", "similar_questions", "alt")


def load_source(path: Path, doc_id: str, image_to_text: ImageToText | None = None) -> LoadedSource:
    """Read one file; ``doc_id`` names a document whose file does not name itself."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedSource(
            f"{path.name}: files of type '{suffix or '(none)'}' cannot be ingested; supported: "
            + ", ".join(sorted(SUPPORTED_SUFFIXES))
        )
    if suffix in IMAGE_SUFFIXES:
        return LoadedSource(documents=(_load_image(path, doc_id, image_to_text),))
    if suffix == ".pdf":
        return LoadedSource(documents=(_load_pdf(path, doc_id),))
    if suffix == ".docx":
        return LoadedSource(documents=(_load_docx(path, doc_id),))
    text = read_text(path)
    if suffix in FAQ_SUFFIXES:
        return LoadedSource(faqs=tuple(_load_faq(path, text, doc_id)))
    if suffix in HTML_SUFFIXES:
        return LoadedSource(documents=(_load_html(path, text, doc_id),))
    if suffix in MARKDOWN_SUFFIXES:
        return LoadedSource(documents=(_load_markdown(path, text, doc_id),))
    return LoadedSource(documents=(_document(path, doc_id, text, markdown=False),))


def read_text(path: Path) -> str:
    """The file as text: UTF-8 (with or without BOM), else GB18030, which Chinese tools write."""
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidSource(f"{path.name}: the file is not text in UTF-8 or GB18030")


def _document(
    path: Path,
    doc_id: str,
    text: str,
    *,
    markdown: bool,
    title: str = "",
    meta: Mapping[str, Any] | None = None,
    sections: tuple[Section, ...] = (),
) -> LoadedDocument:
    meta = meta or {}
    body = text.strip()
    if not body and not any(s.text.strip() for s in sections):
        raise InvalidSource(f"{path.name}: the file has no text")
    language = str(meta.get("language") or meta.get("lang") or "")
    if language not in ("", "zh", "en"):
        raise InvalidSource(f"{path.name}: language must be 'zh' or 'en', not '{language}'")
    return LoadedDocument(
        doc_id=str(meta.get("id") or doc_id),
        title=str(meta.get("title") or title or path.stem),
        language=language,  # "" when the file does not say: the caller's detector decides
        text=body,
        markdown=markdown,
        category=str(meta.get("category") or ""),
        url=str(meta.get("url") or ""),
        sections=sections,
    )


def _load_markdown(path: Path, text: str, doc_id: str) -> LoadedDocument:
    meta: dict[str, Any] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            parsed = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            raise InvalidSource(f"{path.name}: the front matter is not valid YAML ({exc})") from exc
        if not isinstance(parsed, dict):
            raise InvalidSource(f"{path.name}: the front matter must be a YAML mapping")
        meta = parsed
        text = text[match.end() :]
    heading = re.search(r"^#\s+(.+)$", text, flags=re.MULTILINE)
    title = heading.group(1).strip() if heading else ""
    return _document(path, doc_id, text, markdown=True, title=title, meta=meta)


def _load_html(path: Path, text: str, doc_id: str) -> LoadedDocument:
    soup = BeautifulSoup(text, "lxml")
    for tag in soup(["script", "style", "noscript", "template", "nav"]):
        tag.decompose()
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else ""
    # Headings become Markdown headings so the document splits on its own structure.
    for level in (1, 2, 3, 4):
        for tag in soup.find_all(f"h{level}"):
            tag.replace_with(f"\n\n{'#' * min(level, 3)} {tag.get_text(' ', strip=True)}\n\n")
    for tag in soup.find_all("li"):
        tag.insert(0, "- ")
    for tag in soup.find_all(["p", "div", "li", "tr", "br", "table", "ul", "ol"]):
        tag.append("\n")
    root = soup.body or soup
    body = re.sub(r"\n[ \t]*(?:\n[ \t]*)+", "\n\n", root.get_text())
    if not title:
        heading = re.search(r"^#\s+(.+)$", body, flags=re.MULTILINE)
        title = heading.group(1).strip() if heading else ""
    return _document(path, doc_id, body, markdown=True, title=title)


def _load_pdf(path: Path, doc_id: str) -> LoadedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidSource(f"{path.name}: the PDF is encrypted; upload an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
        title = str(info.title) if info is not None and info.title else ""
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise InvalidSource(f"{path.name}: not a readable PDF ({exc})") from exc
    sections = tuple(
        Section(heading=f"p. {n}", text=page.strip()) for n, page in enumerate(pages, 1)
    )
    if not any(s.text for s in sections):
        raise InvalidSource(
            f"{path.name}: the PDF has no text layer (a scanned document?); "
            "convert its pages to images and upload those, they go through OCR"
        )
    return _document(path, doc_id, "", markdown=False, title=title, sections=sections)


def _load_docx(path: Path, doc_id: str) -> LoadedDocument:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InvalidSource(f"{path.name}: not a readable Word (.docx) file ({exc})") from exc
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            lines.append(_docx_paragraph(block))
        elif isinstance(block, Table):
            for row in block.rows:
                cells = [cell.text.strip() for cell in row.cells]
                lines.append(" | ".join(c for c in cells if c))
    heading = next((line[2:] for line in lines if line.startswith("# ")), "")
    title = document.core_properties.title or heading
    return _document(
        path, doc_id, "\n\n".join(line for line in lines if line), markdown=True, title=title
    )


def _docx_paragraph(paragraph: Any) -> str:
    text = str(paragraph.text).strip()
    style = str(paragraph.style.name if paragraph.style is not None else "")
    if not text:
        return ""
    if style == "Title":
        return f"# {text}"
    if style.startswith("Heading "):
        level = style.removeprefix("Heading ").strip()
        depth = min(int(level), 3) if level.isdigit() else 2
        return f"{'#' * depth} {text}"
    if "List" in style:
        return f"- {text}"
    return text


def _load_image(path: Path, doc_id: str, image_to_text: ImageToText | None) -> LoadedDocument:
    if image_to_text is None:
        raise UnsupportedSource(
            f"{path.name}: images need an OCR engine, and this knowledge base has none configured"
        )
    try:
        text = image_to_text(path)
    except Exception as exc:
        raise InvalidSource(f"{path.name}: OCR failed ({exc})") from exc
    if not text.strip():
        raise InvalidSource(f"{path.name}: OCR found no text in the image")
    return _document(path, doc_id, text, markdown=False)


# ---- FAQ files -------------------------------------------------------------------------------


def _load_faq(path: Path, text: str, doc_id: str) -> list[FaqEntry]:
    suffix = path.suffix.lower()
    defaults: dict[str, Any] = {}
    if suffix == ".csv":
        rows: list[Any] = _csv_rows(path, text)
    elif suffix == ".jsonl":
        rows = _jsonl_rows(path, text)
    else:
        try:
            parsed = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise InvalidSource(f"{path.name}: not valid {suffix[1:].upper()} ({exc})") from exc
        if isinstance(parsed, dict):
            defaults = {k: v for k, v in parsed.items() if k in ("category", "title", "url")}
            parsed = parsed.get("faq", parsed.get("entries"))
        if not isinstance(parsed, list):
            raise InvalidSource(
                f"{path.name}: a FAQ file holds a list of entries (or a mapping with 'faq: [...]')"
            )
        rows = parsed
    entries: list[FaqEntry] = []
    seen: set[tuple[str, str]] = set()
    for number, row in enumerate(rows, 1):
        for entry in _faq_entries(path, number, row, doc_id, defaults):
            key = (entry.doc_id, entry.language)
            if key in seen:
                raise InvalidSource(
                    f"{path.name}: entry {number} repeats id '{entry.doc_id}' in language "
                    f"'{entry.language}'; give every entry its own id"
                )
            seen.add(key)
            entries.append(entry)
    if not entries:
        raise InvalidSource(f"{path.name}: the FAQ file has no entries")
    return entries


def _csv_rows(path: Path, text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if not any(k in fields for k in _QUESTION_KEYS) or not any(k in fields for k in _ANSWER_KEYS):
        raise InvalidSource(
            f"{path.name}: a FAQ CSV needs a header row with 'question' and 'answer' columns "
            "(optional: id, alternatives separated by '|', category, language)"
        )
    rows: list[dict[str, Any]] = []
    for row in reader:
        clean = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        for key in _ALTERNATIVE_KEYS:
            if clean.get(key):
                clean[key] = [a.strip() for a in re.split(r"[|\n]", clean[key]) if a.strip()]
        rows.append(clean)
    return rows


def _jsonl_rows(path: Path, text: str) -> list[Any]:
    rows: list[Any] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InvalidSource(f"{path.name}: line {number} is not valid JSON ({exc})") from exc
    return rows


def _faq_entries(
    path: Path, number: int, row: Any, doc_id: str, defaults: Mapping[str, Any]
) -> Iterable[FaqEntry]:
    if not isinstance(row, dict):
        raise InvalidSource(f"{path.name}: entry {number} is not a mapping of fields")
    entry_id = str(row.get("id") or f"{doc_id}#{number}")
    category = str(row.get("category") or defaults.get("category") or "")
    title = str(row.get("title") or defaults.get("title") or "")
    url = str(row.get("url") or defaults.get("url") or "")
    per_language = {lang: row[lang] for lang in ("zh", "en") if isinstance(row.get(lang), dict)}
    if not per_language:
        per_language = {str(row.get("language") or ""): row}
    for language, fields in per_language.items():
        question = _first(fields, _QUESTION_KEYS)
        answer = _first(fields, _ANSWER_KEYS)
        where = f"{path.name}: entry {number} (id '{entry_id}')"
        if not question:
            raise InvalidSource(f"{where} has no question")
        if not answer:
            raise InvalidSource(f"{where} has no answer")
        alternatives = _alternatives(fields, where)
        if language not in ("", "zh", "en"):
            raise InvalidSource(f"{where}: language must be 'zh' or 'en', not '{language}'")
        yield FaqEntry(
            doc_id=entry_id,
            language=language,  # "" when the file does not say: the caller's detector decides
            question=question,
            answer=answer,
            alternatives=alternatives,
            category=category,
            title=title,
            url=url,
        )


def _first(fields: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = fields.get(key)
        if value is not None and str(value).strip():
            return str(value).strip()
    return ""


def _alternatives(fields: Mapping[str, Any], where: str) -> tuple[str, ...]:
    for key in _ALTERNATIVE_KEYS:
        value = fields.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidSource(f"{where}: '{key}' must be a list of questions")
        return tuple(v.strip() for v in value if v.strip())
    return ()
