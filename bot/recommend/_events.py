"""Reading interaction events from CSV, MovieLens ``u.data`` or JSON lines.

Bad rows are reported with their line number and skipped, never silently. Timestamps are ISO 8601
(a time without a zone is taken as UTC) or Unix seconds, as MovieLens writes them.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bot.recommend._catalogue import json_lines
from bot.recommend._errors import EventImportError
from bot.recommend._types import EVENT_KINDS, Event, RowProblem

logger = logging.getLogger(__name__)

EventFormat = Literal["csv", "movielens", "jsonl"]
EVENT_FORMATS: tuple[EventFormat, ...] = ("csv", "movielens", "jsonl")
CSV_REQUIRED = ("user_id", "item_id", "kind", "at")


def load_events(path: Path, fmt: str) -> tuple[list[Event], list[RowProblem]]:
    """Events of ``path`` in ``fmt`` ("csv", "movielens" or "jsonl"), and the skipped rows."""
    if fmt not in EVENT_FORMATS:
        raise EventImportError(
            f"unknown events format '{fmt}'; use one of {', '.join(EVENT_FORMATS)}"
        )
    if not path.is_file():
        raise EventImportError(f"events file {path} does not exist")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    rows: Iterator[tuple[int, Mapping[str, Any] | str]]
    if fmt == "csv":
        rows = _csv_rows(text, path)
    elif fmt == "movielens":
        rows = _movielens_rows(text)
    else:
        rows = json_lines(text)
    events: list[Event] = []
    problems: list[RowProblem] = []
    for line, row in rows:
        if isinstance(row, str):
            problems.append(RowProblem(line, row))
            continue
        try:
            events.append(parse_event(row))
        except ValueError as exc:
            problems.append(RowProblem(line, str(exc)))
    if problems:
        logger.warning(
            "%s: skipped %d bad row(s), first on line %d: %s",
            path.name,
            len(problems),
            problems[0].line,
            problems[0].message,
        )
    return events, problems


def parse_event(row: Mapping[str, Any]) -> Event:
    """One event from a mapping of its fields; ValueError says which field is wrong."""
    missing = [n for n in ("user_id", "item_id", "kind") if str(row.get(n) or "").strip() == ""]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    kind = str(row["kind"]).strip().lower()
    if kind not in EVENT_KINDS:
        raise ValueError(f"kind '{kind}' is not one of {', '.join(EVENT_KINDS)}")
    value: float | None = None
    if row.get("value") not in (None, ""):
        try:
            value = float(row["value"])
        except (TypeError, ValueError):
            raise ValueError(f"value '{row['value']}' is not a number") from None
    if kind == "rating" and (value is None or not 0 <= value <= 10):
        raise ValueError("a rating needs a value between 0 and 10")
    return Event(
        user_id=str(row["user_id"]).strip(),
        item_id=str(row["item_id"]).strip(),
        kind=kind,
        at=parse_time(row.get("at")),
        value=value,
        channel=_optional(row.get("channel")),
        device=_optional(row.get("device")),
        query=_optional(row.get("query")),
    )


def parse_time(raw: Any) -> datetime:
    """A timezone-aware UTC time from ISO 8601 text or Unix seconds."""
    if raw is None or str(raw).strip() == "":
        raise ValueError("missing at (the event's time)")
    text = str(raw).strip()
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass  # not Unix seconds: try ISO 8601 next
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"time '{text}' is neither ISO 8601 nor Unix seconds") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _optional(raw: Any) -> str | None:
    return None if raw in (None, "") else str(raw).strip()


def _csv_rows(text: str, path: Path) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    reader = csv.DictReader(text.splitlines())
    absent = [name for name in CSV_REQUIRED if name not in (reader.fieldnames or [])]
    if absent:
        raise EventImportError(
            f"events file {path} has no column(s) {', '.join(absent)}; the header must name "
            f"{', '.join(CSV_REQUIRED)} (optional: value, channel, device, query)"
        )
    for row in reader:
        yield reader.line_num, row


def _movielens_rows(text: str) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            yield (
                number,
                (
                    f"expected 4 tab-separated fields (user, item, rating, timestamp), "
                    f"found {len(fields)}"
                ),
            )
            continue
        user, item, rating, timestamp = (f.strip() for f in fields)
        yield (
            number,
            {
                "user_id": user,
                "item_id": item,
                "kind": "rating",
                "value": rating,
                "at": timestamp,
            },
        )
