"""Pain points: customers' negative messages, ticket texts and unhappy satisfaction comments
grouped by topic, each topic saying how many texts came from which source.

Each text is embedded with multilingual-e5 (the wiring passes the embedding function in), the
vectors are centred per language (e5's vectors carry the language more strongly than the topic:
without it a Chinese and an English complaint about slow delivery land in different groups),
and grouped by scikit-learn's agglomerative clustering with a cosine distance threshold, so the
number of topics is not fixed in advance. A topic is labelled by its most central text in each
language, and trends by its count in the range's last 7 days against the 7 days before.

Embedding is slow on a small CPU (about 10 texts a second on two busy cores), so the job embeds
new negative messages a batch at a time and keeps the vectors (``painpoint_vectors``, deleted
with their message); ticket texts and satisfaction comments, fewer, are embedded when the report
is asked for.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.cluster import AgglomerativeClustering  # type: ignore[import-untyped]
from sqlalchemy import Connection, ForeignKey, LargeBinary, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from bot.insights._analytics import _csv_safe, check_range
from bot.privacy import redact
from bot.storage import Base, Conversation, Database, Message

logger = logging.getLogger(__name__)

Vectors = NDArray[np.float32]
Embed = Callable[[Sequence[str]], Vectors]


class PainPointVector(Base):
    """The e5 vector of one negative customer message (gone with the message)."""

    __tablename__ = "painpoint_vectors"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float16, little-endian


@dataclass(frozen=True)
class PainPointConfig:
    """Which messages count as negative and how close texts of one topic are."""

    negative_at_most: float = -0.3
    # Cosine distance, average linkage, on language-centred vectors. Chosen on 12 hand-written
    # dev sentences (4 topics × zh/en, grouped exactly from 0.95 to 1.0); the tests use others.
    distance: float = 1.0
    max_texts: int = 2000  # newest texts clustered per report (memory grows with its square)
    max_tickets: int = 200
    embed_batch: int = 64


@dataclass(frozen=True)
class FeedbackText:
    """One negative text: a customer message, a ticket or a satisfaction comment."""

    source: str  # one of SOURCES
    text: str
    language: str
    created_at: datetime


SOURCES = ("message", "ticket", "csat")
# Ticket texts and satisfaction comments of a range, newest first, up to a limit (of each).
TicketTexts = Callable[[datetime, datetime, int], Awaitable[Sequence[FeedbackText]]]


def _pending(connection: Connection, threshold: float, limit: int) -> list[tuple[int, str]]:
    rows = connection.execute(
        select(Message.id, Message.text)
        .outerjoin(PainPointVector, PainPointVector.message_id == Message.id)
        .where(
            Message.direction == "in",
            Message.sentiment <= threshold,
            PainPointVector.message_id.is_(None),
        )
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return [(int(i), str(t or "")) for i, t in rows]


def _store_vectors(connection: Connection, ids: Sequence[int], vectors: Vectors) -> None:
    if ids:
        connection.execute(
            insert(PainPointVector),
            [
                {"message_id": i, "vector": v.astype("<f2").tobytes()}
                for i, v in zip(ids, vectors, strict=True)
            ],
        )


def _embedded(
    connection: Connection, since: datetime, until: datetime, limit: int
) -> list[tuple[FeedbackText, Vectors]]:
    rows = connection.execute(
        select(Message.text, Message.language, Conversation.language, Message.created_at)
        .add_columns(PainPointVector.vector)
        .join(PainPointVector, PainPointVector.message_id == Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.created_at >= since, Message.created_at < until)
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return [
        (
            FeedbackText("message", str(text or ""), str(lang or conv_lang or ""), at),
            np.frombuffer(vector, dtype="<f2").astype(np.float32),
        )
        for text, lang, conv_lang, at, vector in rows
    ]


def cluster(vectors: Vectors, languages: Sequence[str], distance: float) -> NDArray[np.int_]:
    """A topic number per vector (agglomerative, cosine, on language-centred vectors)."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=np.int_)
    centred = np.array(vectors, dtype=np.float32)
    labels = np.array(languages)
    for language in set(languages):
        members = labels == language
        if members.sum() > 1:
            centred[members] -= centred[members].mean(axis=0)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    centred /= np.where(norms == 0, 1.0, norms)
    model = AgglomerativeClustering(
        n_clusters=None, distance_threshold=distance, metric="cosine", linkage="average"
    )
    return np.asarray(model.fit_predict(centred), dtype=np.int_)


def _short(text: str, limit: int = 60) -> str:
    one_line = " ".join(redact(text).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def describe(
    texts: Sequence[FeedbackText], vectors: Vectors, topics: NDArray[np.int_], end: date
) -> list[dict[str, Any]]:
    """Each topic of two or more texts, biggest first: its central phrase per language, size,
    how many texts each source gave, counts this week and last, and up to three central
    examples (redacted) with their source."""
    this_week = datetime.combine(end - timedelta(days=6), time(), tzinfo=UTC)
    last_week = this_week - timedelta(days=7)
    out: list[dict[str, Any]] = []
    for topic in set(topics.tolist()):
        members = np.flatnonzero(topics == topic)
        if len(members) < 2:
            continue
        unit = vectors[members] / np.linalg.norm(vectors[members], axis=1, keepdims=True)
        centrality = (unit @ unit.T).mean(axis=1)
        order = [int(i) for i in members[np.argsort(-centrality)]]
        label: dict[str, str] = {}
        for index in order:
            language = texts[index].language if texts[index].language in ("zh", "en") else "zh"
            label.setdefault(language, _short(texts[index].text, 40))
        current = sum(texts[i].created_at >= this_week for i in order)
        previous = sum(last_week <= texts[i].created_at < this_week for i in order)
        out.append(
            {
                "label": label,
                "size": len(members),
                "sources": sorted({texts[i].source for i in order}),
                "by_source": {
                    source: n
                    for source in SOURCES
                    if (n := sum(texts[i].source == source for i in order))
                },
                "this_week": int(current),
                "last_week": int(previous),
                "trend": "up" if current > previous else "down" if current < previous else "flat",
                "examples": [_short(texts[i].text, 200) for i in order[:3]],
                "example_sources": [texts[i].source for i in order[:3]],
            }
        )
    out.sort(key=lambda t: (-int(t["size"]), -int(t["this_week"]), str(t["label"])))
    return out


class PainPoints:
    """Negative feedback grouped by topic, for the dashboard, the API and the report."""

    def __init__(
        self, database: Database, embed: Embed, tickets: TicketTexts, config: PainPointConfig
    ) -> None:
        self._db = database
        self._embed = embed
        self._tickets = tickets
        self._config = config
        # Ticket texts embedded before, by their text: a report asked again embeds only new ones.
        self._ticket_vectors: OrderedDict[str, Vectors] = OrderedDict()

    async def embed_pending(self, batches: int = 4) -> int:
        """The job: embed up to ``batches`` batches of negative messages not embedded yet."""
        done = 0
        for _ in range(batches):
            pending = await self._db.transaction(
                lambda c: _pending(c, self._config.negative_at_most, self._config.embed_batch)
            )
            if not pending:
                break
            ids = [i for i, _ in pending]
            vectors = await asyncio.to_thread(self._embed, [t for _, t in pending])
            await self._db.transaction(lambda c: _store_vectors(c, ids, vectors))  # noqa: B023
            done += len(ids)
        if done:
            logger.info("Embedded %d negative messages for pain points", done)
        return done

    async def _embed_tickets(self, texts: list[str]) -> Vectors:
        cache = self._ticket_vectors
        for text in texts:  # this report's texts are the newest: trimming keeps them
            if text in cache:
                cache.move_to_end(text)
        new = sorted({t for t in texts if t not in cache})
        if new:
            vectors = await asyncio.to_thread(self._embed, new)
            for text, vector in zip(new, vectors, strict=True):
                cache[text] = np.asarray(vector, dtype=np.float32)
        while len(cache) > max(TICKET_CACHE, len(texts)):
            cache.popitem(last=False)
        return np.vstack([cache[t] for t in texts]) if texts else _empty()

    async def report(self, start: date, end: date, limit: int = 20) -> dict[str, Any]:
        """The topics of ``start`` … ``end`` (inclusive), biggest first, as JSON."""
        check_range(start, end)
        since = datetime.combine(start, time(), tzinfo=UTC)
        until = datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
        stored = await self._db.transaction(
            lambda c: _embedded(c, since, until, self._config.max_texts)
        )
        tickets = list(await self._tickets(since, until, self._config.max_tickets))
        ticket_vectors = await self._embed_tickets([t.text for t in tickets])
        texts = [t for t, _ in stored] + tickets
        if not texts:
            return {"from": start.isoformat(), "to": end.isoformat(), "texts": 0, "topics": []}
        vectors = np.vstack([v for _, v in stored] + [np.asarray(ticket_vectors, np.float32)])
        topics = await asyncio.to_thread(
            cluster, vectors, [t.language for t in texts], self._config.distance
        )
        return {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "texts": len(texts),
            "topics": describe(texts, vectors, topics, end)[:limit],
        }


TICKET_CACHE = 5000


def _empty() -> Vectors:
    return np.zeros((0, 384), dtype=np.float32)


def painpoints_csv(report: dict[str, Any]) -> str:
    """The topics as CSV, one row each."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ("label_zh", "label_en", "size", "this_week", "last_week", "trend", "sources", "examples")
    )
    for topic in report["topics"]:
        writer.writerow(
            (
                _csv_safe(topic["label"].get("zh", "")),
                _csv_safe(topic["label"].get("en", "")),
                topic["size"],
                topic["this_week"],
                topic["last_week"],
                topic["trend"],
                " ".join(f"{k}:{v}" for k, v in topic["by_source"].items()),
                _csv_safe(" | ".join(topic["examples"])),
            )
        )
    return buffer.getvalue()
