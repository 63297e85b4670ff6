"""Reading a catalogue from CSV, a JSON array or JSON lines; bad rows are reported and skipped."""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from bot.recommend._errors import CatalogueError
from bot.recommend._types import CatalogueItem, RowProblem

logger = logging.getLogger(__name__)

REQUIRED = ("id", "name_zh", "name_en", "category", "price")
OPTIONAL = ("description_zh", "description_en", "stock", "attributes", "image")


def load_catalogue(path: Path) -> tuple[list[CatalogueItem], list[RowProblem]]:
    """Items of a ``.csv``, ``.json`` (an array of objects) or ``.jsonl`` file, and skipped rows."""
    if not path.is_file():
        raise CatalogueError(f"catalogue file {path} does not exist")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8-sig")
    if suffix == ".csv":
        rows = _csv_rows(text, path)
    elif suffix == ".json":
        rows = _json_array_rows(text, path)
    elif suffix in (".jsonl", ".ndjson"):
        rows = json_lines(text)
    else:
        raise CatalogueError(
            f"catalogue file {path} must end in .csv, .json or .jsonl (found '{suffix}')"
        )
    items: list[CatalogueItem] = []
    problems: list[RowProblem] = []
    seen: set[str] = set()
    for line, row in rows:
        if isinstance(row, str):
            problems.append(RowProblem(line, row))
            continue
        try:
            item = parse_item(row)
        except ValueError as exc:
            problems.append(RowProblem(line, str(exc)))
            continue
        if item.id in seen:
            problems.append(RowProblem(line, f"item id '{item.id}' appears twice; keep one row"))
            continue
        seen.add(item.id)
        items.append(item)
    for problem in problems:
        logger.warning("Catalogue %s line %d skipped: %s", path.name, problem.line, problem.message)
    return items, problems


def parse_item(row: Mapping[str, Any]) -> CatalogueItem:
    """One catalogue item from a mapping of its fields; ValueError says which field is wrong."""
    missing = [name for name in REQUIRED if str(row.get(name) or "").strip() == ""]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    try:
        price = float(row["price"])
    except (TypeError, ValueError):
        raise ValueError(f"price '{row['price']}' is not a number") from None
    if price < 0 or price != price:
        raise ValueError(f"price {row['price']} must be zero or more")
    stock_raw = row.get("stock")
    stock: int | None = None
    if stock_raw not in (None, ""):
        try:
            stock = int(stock_raw)
        except (TypeError, ValueError):
            raise ValueError(f"stock '{stock_raw}' is not a whole number") from None
        if stock < 0:
            raise ValueError(f"stock {stock} must be zero or more")
    return CatalogueItem(
        id=str(row["id"]).strip(),
        name_zh=str(row["name_zh"]).strip(),
        name_en=str(row["name_en"]).strip(),
        category=str(row["category"]).strip(),
        price=price,
        description_zh=str(row.get("description_zh") or "").strip(),
        description_en=str(row.get("description_en") or "").strip(),
        stock=stock,
        attributes=_attributes(row.get("attributes")),
        image=str(row["image"]).strip() if row.get("image") else None,
    )


def _attributes(raw: Any) -> dict[str, str]:
    if raw in (None, ""):
        return {}
    if isinstance(raw, str):
        # CSV cells carry attributes as a JSON object or as "key=value; key=value".
        if raw.strip().startswith("{"):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"attributes are not a JSON object ({exc.msg})") from None
        else:
            pairs = [p.split("=", 1) for p in raw.split(";") if p.strip()]
            if any(len(p) != 2 for p in pairs):
                raise ValueError("attributes must be a JSON object or 'key=value; key=value'")
            return {k.strip(): v.strip() for k, v in pairs}
    if not isinstance(raw, dict):
        raise ValueError("attributes must be an object of names to values")
    return {str(k): str(v) for k, v in raw.items()}


def _csv_rows(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    absent = [name for name in REQUIRED if name not in header]
    if absent:
        raise CatalogueError(
            f"catalogue {path} has no column(s) {', '.join(absent)}; "
            f"the header must name {', '.join(REQUIRED)} (optional: {', '.join(OPTIONAL)})"
        )
    for row in reader:
        # line_num counts physical lines read so far: the row's last line.
        yield reader.line_num, dict(row)


def _json_array_rows(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    # Decoding element by element keeps each object's line number for the report.
    decoder = json.JSONDecoder()
    start = len(text) - len(text.lstrip())
    if not text[start:].startswith("["):
        raise CatalogueError(f"catalogue {path} must hold a JSON array of item objects")
    index = start + 1
    while True:
        index = _skip_space(text, index)
        if index < len(text) and text[index] == "]":
            return
        line = text.count("\n", 0, index) + 1
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            raise CatalogueError(f"catalogue {path} is not valid JSON: {exc}") from None
        yield line, value if isinstance(value, dict) else "not a JSON object"
        index = _skip_space(text, index)
        if index < len(text) and text[index] == ",":
            index += 1
        elif index >= len(text) or text[index] != "]":
            raise CatalogueError(
                f"catalogue {path} is not valid JSON: expected ',' or ']' after the item "
                f"starting on line {line}"
            )


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


def json_lines(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Each non-blank line's number and object, or the reason it is not one."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"not valid JSON ({exc.msg})"
            continue
        yield number, value if isinstance(value, dict) else "not a JSON object"
