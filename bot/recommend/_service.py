"""The recommendation service: the one door into the module for dialogue, console and marketing.

It stores the catalogue, events and profiles, trains the serving model (a hybrid of ALS, item-item
CF, popularity and, with an embedder, content), and answers with filtered, diversified items that
each carry a reason and a score breakdown. A recorded event reaches the served model at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from bot.recommend._base import Recommender, Scored, one_blas_thread, top_k
from bot.recommend._catalogue import load_catalogue
from bot.recommend._content import ContentModel, TextEmbedder
from bot.recommend._errors import InvalidEvent, NotFitted
from bot.recommend._events import load_events
from bot.recommend._factors import ALSModel
from bot.recommend._hybrid import HybridModel, standardize
from bot.recommend._interactions import Interactions, build_interactions
from bot.recommend._itemknn import ItemKNNModel
from bot.recommend._popularity import PopularityModel
from bot.recommend._profile import apply_event, view
from bot.recommend._rerank import mmr, passes
from bot.recommend._spark import SparkALSModel
from bot.recommend._tables import EventRow, ItemRow, ProfileRow
from bot.recommend._types import (
    EVENT_KINDS,
    CatalogueItem,
    Event,
    Filters,
    ImportReport,
    Reason,
    Recommendation,
    UserProfile,
    event_weight,
)
from bot.recommend._versions import ModelStore
from bot.storage import Database, utcnow

logger = logging.getLogger(__name__)


def _default_weights() -> dict[str, float]:
    return {"als": 1.0, "itemknn": 0.5, "popularity": 0.25, "content": 0.25}


@dataclass(frozen=True)
class RecommendConfig:
    """How the serving model is built and how answers are re-ranked."""

    weights: dict[str, float] = field(default_factory=_default_weights)
    als_factors: int = 64
    candidates: int = 100
    query_weight: float = 2.0  # how much the customer's own words ("for running") count
    diversity: float = 0.85  # MMR trade-off: 1.0 keeps the model's order, lower mixes more
    spark_master: str | None = None  # train the ALS member on Spark there; None: ``implicit``


@dataclass(frozen=True)
class TrainReport:
    """What a training run learned from and how long it took."""

    users: int
    items: int
    events: int
    seconds: float
    models: tuple[str, ...]
    version: int | None = None  # the saved version, when the service has a model folder


class RecommendService:
    """Catalogue, events, profiles and personalised recommendations."""

    def __init__(
        self,
        database: Database,
        embedder: TextEmbedder | None = None,
        config: RecommendConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
        model_dir: Path | None = None,
    ) -> None:
        self._db = database
        self._embedder = embedder
        self._config = config or RecommendConfig()
        self._now = clock
        self._store = ModelStore(model_dir) if model_dir is not None else None
        self._version: int | None = None
        self._model: HybridModel | None = None
        self._catalogue: dict[str, CatalogueItem] = {}

    # ---- data in ---------------------------------------------------------------------------

    async def import_catalogue(self, path: Path) -> ImportReport:
        """Add or update the items of a CSV/JSON/JSONL file; bad rows are reported, not stored."""
        items, problems = load_catalogue(path)

        def store(session: Session) -> None:
            for item in items:
                session.merge(_item_row(item))

        await self._db.session(store)
        self._catalogue.update({item.id: item for item in items})
        logger.info("Imported %d catalogue items, skipped %d rows", len(items), len(problems))
        return ImportReport(len(items), tuple(problems))

    async def import_events(self, path: Path, fmt: str) -> ImportReport:
        """Add the events of a CSV, MovieLens ``u.data`` or JSON-lines file and update profiles."""
        events, problems = load_events(path, fmt)
        await self._store_events(events, {})
        logger.info("Imported %d events, skipped %d rows", len(events), len(problems))
        return ImportReport(len(events), tuple(problems))

    async def record_event(self, event: Event, language: str | None = None) -> UserProfile:
        """Store one event, update the customer's profile, and let the model see it now."""
        catalogue = await self.catalogue()
        if event.kind not in EVENT_KINDS:
            raise InvalidEvent(f"kind '{event.kind}' is not one of {', '.join(EVENT_KINDS)}")
        if event.item_id not in catalogue:
            raise InvalidEvent(
                f"item '{event.item_id}' is not in the catalogue; import it before its events"
            )
        if event.kind == "rating" and (event.value is None or not 0 <= event.value <= 10):
            raise InvalidEvent("a rating event needs a value between 0 and 10")
        if event.at.tzinfo is None:
            raise InvalidEvent("the event time has no time zone; pass a UTC-aware datetime")
        if event.kind == "dismiss" and await self._dismissed(event.user_id, event.item_id):
            # A replayed "not interested" (a second press, a retried report) says nothing new;
            # stored again it would push the item further down each time.
            profile = await self.profile(event.user_id)
            if profile is not None:
                return profile
        profiles = await self._store_events([event], {event.user_id: language})
        model = self._model
        if model is not None:
            model.data.add(event.user_id, event.item_id, event_weight(event.kind, event.value))
        return profiles[event.user_id]

    async def _dismissed(self, user_id: str, item_id: str) -> bool:
        def load(session: Session) -> bool:
            found = session.scalar(
                select(EventRow.id).where(
                    EventRow.user_id == user_id,
                    EventRow.item_id == item_id,
                    EventRow.kind == "dismiss",
                )
            )
            return found is not None

        return await self._db.session(load)

    async def _store_events(
        self, events: Sequence[Event], languages: dict[str, str | None]
    ) -> dict[str, UserProfile]:
        catalogue = await self.catalogue()
        now = self._now()

        def store(session: Session) -> dict[str, UserProfile]:
            if events:
                session.execute(insert(EventRow), [_event_values(e) for e in events])
            users = sorted({e.user_id for e in events})
            rows = {
                row.user_id: row
                for start in range(0, len(users), 500)
                for row in session.scalars(
                    select(ProfileRow).where(ProfileRow.user_id.in_(users[start : start + 500]))
                )
            }
            for event in sorted(events, key=lambda e: e.at):
                row = rows.get(event.user_id)
                if row is None:
                    row = rows[event.user_id] = ProfileRow(
                        user_id=event.user_id,
                        category_weights={},
                        price_band_weights={},
                        purchases=0,
                        monetary=0.0,
                        events=0,
                    )
                    session.add(row)
                apply_event(row, event, catalogue.get(event.item_id), languages.get(event.user_id))
            session.flush()
            return {user: view(row, now) for user, row in rows.items()}

        return await self._db.session(store)

    # ---- data out ----------------------------------------------------------------------------

    async def catalogue(self) -> dict[str, CatalogueItem]:
        """Every catalogue item by id (read from the database once, then kept current)."""
        if not self._catalogue:

            def load(session: Session) -> dict[str, CatalogueItem]:
                return {r.id: _item(r) for r in session.scalars(select(ItemRow))}

            self._catalogue = await self._db.session(load)
        return self._catalogue

    async def profile(self, user_id: str) -> UserProfile | None:
        """The customer's profile, or None before their first event."""
        now = self._now()

        def load(session: Session) -> UserProfile | None:
            row = session.get(ProfileRow, user_id)
            return None if row is None else view(row, now)

        return await self._db.session(load)

    async def events_of(self, user_id: str) -> list[Event]:
        """The customer's events, oldest first."""

        def load(session: Session) -> list[Event]:
            rows = session.scalars(
                select(EventRow).where(EventRow.user_id == user_id).order_by(EventRow.at)
            )
            return [_event(r) for r in rows]

        return await self._db.session(load)

    # ---- a customer's rights ---------------------------------------------------------------

    async def export_customer(self, customer_id: str) -> dict[str, object]:
        """The customer's events and profile as JSON (for the privacy module's export)."""
        profile = await self.profile(customer_id)
        events = await self.events_of(customer_id)
        return {
            "events": [_jsonable(asdict(e)) for e in events],
            "profile": None if profile is None else _jsonable(asdict(profile)),
        }

    async def erase_customer(self, customer_id: str) -> dict[str, int]:
        """Delete the customer's events and profile; the counts deleted. The served model keeps
        what it learned of them until the next training run, which no longer sees them."""

        def erase(session: Session) -> dict[str, int]:
            counts = {}
            for name, table in (("events", EventRow), ("profiles", ProfileRow)):
                result = session.execute(delete(table).where(table.user_id == customer_id))
                counts[name] = int(getattr(result, "rowcount", 0) or 0)
            return counts

        return await self._db.session(erase)

    async def merge_customer(self, from_id: str, into_id: str) -> int:
        """Move one customer key's events to another (two app identities found to be one
        person): the merged profile and the served model see them at once; how many moved.
        Stored under the new key before the old rows go, so a failure in between loses nothing."""
        if from_id == into_id:
            return 0
        events = [replace(e, user_id=into_id) for e in await self.events_of(from_id)]
        if events:
            await self._store_events(events, {into_id: None})
            model = self._model
            if model is not None:
                for event in events:
                    model.data.add(into_id, event.item_id, event_weight(event.kind, event.value))
        await self.erase_customer(from_id)
        return len(events)

    # ---- training and serving ------------------------------------------------------------------

    async def train(self) -> TrainReport:
        """Fit the serving model on every stored event; the new model serves at once."""
        catalogue = await self.catalogue()

        def load(session: Session) -> list[tuple[int, Event]]:
            rows = session.scalars(select(EventRow).order_by(EventRow.id))
            return [(r.id, _event(r)) for r in rows]

        loaded = await self._db.session(load)
        events = [event for _id, event in loaded]
        last_id = loaded[-1][0] if loaded else 0
        began = time.perf_counter()
        model, data = await asyncio.to_thread(self._fit, events, list(catalogue.values()))
        seconds = round(time.perf_counter() - began, 2)
        names = tuple(m.name for m, _w in model.members)
        report = TrainReport(len(data.users), len(data.items), len(events), seconds, names)
        if self._store is not None:
            # Saved before any live event touches it: a loader replays events after last_id.
            saved = {**asdict(report), "last_event_id": last_id, "trained_at": self._now()}
            store = self._store
            version = await asyncio.to_thread(store.save, model, _jsonable(saved))
            report = replace(report, version=version)
            self._version = version
        # Events recorded while the model was fitting reach it as live events.
        await self._replay(data, last_id)
        self._model = model
        logger.info("Trained %s on %d events in %.1f s", "+".join(names), len(events), seconds)
        return report

    async def ensure_trained(self) -> TrainReport | None:
        """Train a first model when none was ever saved (a new shop); None when one exists."""
        if self._store is not None:
            saved = await asyncio.to_thread(self._store.versions)
            if saved:
                return None
        return await self.train()

    async def refresh(self) -> int | None:
        """Serve the newest saved version if it is newer than the one serving; its number."""
        if self._store is None:
            return None
        store = self._store
        versions = await asyncio.to_thread(store.versions)
        if not versions or (self._version is not None and versions[-1] <= self._version):
            return None
        newest = versions[-1]
        model = await asyncio.to_thread(store.load, newest, self._embedder)
        await self._replay(model.data, int(store.report(newest)["last_event_id"]))
        self._model, self._version = model, newest
        logger.info("Serving recommendation model version %d", newest)
        return newest

    async def _replay(self, data: Interactions, after_id: int) -> None:
        def newer(session: Session) -> list[Event]:
            rows = session.scalars(
                select(EventRow).where(EventRow.id > after_id).order_by(EventRow.id)
            )
            return [_event(r) for r in rows]

        for event in await self._db.session(newer):
            data.add(event.user_id, event.item_id, event_weight(event.kind, event.value))

    def _fit(
        self, events: Iterable[Event], catalogue: list[CatalogueItem]
    ) -> tuple[HybridModel, Interactions]:
        data = build_interactions(events, catalogue)
        weights = self._config.weights
        factors = _factors_for(data, self._config.als_factors)
        als: Recommender = (
            SparkALSModel(factors=factors, master=self._config.spark_master)
            if self._config.spark_master
            else ALSModel(factors=factors)
        )
        members: list[tuple[Recommender, float]] = [
            (als, weights.get("als", 0.0)),
            (ItemKNNModel(), weights.get("itemknn", 0.0)),
            (PopularityModel(), weights.get("popularity", 0.0)),
        ]
        if self._embedder is not None and catalogue:
            members.append((ContentModel(self._embedder), weights.get("content", 0.0)))
        model = HybridModel([(m, w) for m, w in members if w > 0])
        model.fit(data)
        return model, data

    async def recommend(
        self,
        user_id: str,
        k: int = 3,
        filters: Filters | None = None,
        personalised: bool = True,
        query: str | None = None,
    ) -> list[Recommendation]:
        """The ``k`` best items for the customer after business filters and MMR diversity.

        ``personalised=False`` (no consent to profiling) ranks by popularity alone; the business
        filters still apply, bought and returned items included. ``query``: what the customer
        asked for in words (a use, a recipient); it counts when the content model serves.
        """
        model = self._require_model()
        if not personalised:
            model = _popularity_only(model)
        if k < 1:
            raise ValueError(f"k must be 1 or more, not {k}")
        filters = filters or Filters()
        events = await self.events_of(user_id)
        bought = {e.item_id for e in events if e.kind == "purchase"}
        returned = {e.item_id for e in events if e.kind in ("return", "dismiss")}
        return await asyncio.to_thread(
            rank_recommendations,
            model,
            user_id,
            k,
            filters,
            frozenset(bought),
            frozenset(returned),
            self._config,
            query,
        )

    async def similar(
        self, item_id: str, k: int = 3, user_id: str | None = None
    ) -> list[Recommendation]:
        """Items like ``item_id`` ("more like this"), in stock, each with its reason; with a
        ``user_id``, none that customer bought, returned or dismissed."""
        model = self._require_model()
        found = model.data.catalogue.get(item_id)
        events = await self.events_of(user_id) if user_id is not None else []
        bought = tuple(e.item_id for e in events if e.kind == "purchase")
        refused = tuple(e.item_id for e in events if e.kind in ("return", "dismiss"))

        def rank() -> list[Recommendation]:
            scores = model.item_scores(item_id)
            if scores is None or found is None:
                return []
            reason = Reason("similar", f"与「{found.name_zh}」相似", f"Similar to {found.name_en}")
            ranked = top_k(model.data, scores, self._config.candidates, (item_id,))
            kept = [
                s
                for s in ranked
                if passes(model.data.catalogue.get(s.item), Filters(), bought, refused)
            ]
            return [
                Recommendation(model.data.catalogue[s.item], round(s.score, 4), reason, {})
                for s in kept[:k]
            ]

        return await asyncio.to_thread(rank)

    def _require_model(self) -> HybridModel:
        if self._model is None:
            raise NotFitted("no recommendation model is trained yet; run train() first")
        return self._model


def _jsonable(values: dict[str, object]) -> dict[str, object]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _popularity_only(model: HybridModel) -> HybridModel:
    popularity = next((m for m, _w in model.members if isinstance(m, PopularityModel)), None)
    if popularity is None:
        popularity = PopularityModel()
        popularity.fit(model.data)
    view = HybridModel([(popularity, 1.0)], fit_members=False)
    view.fit(model.data)
    return view


def _factors_for(data: Interactions, wanted: int) -> int:
    # More factors than a quarter of the items or users lets ALS memorise each history, which
    # flattens its scores (a small shop of 32 products would get 64 factors otherwise).
    return max(2, min(wanted, min(data.shape) // 4))


def rank_recommendations(
    model: HybridModel,
    user_id: str,
    k: int,
    filters: Filters,
    bought: frozenset[str],
    returned: frozenset[str],
    config: RecommendConfig,
    query: str | None = None,
) -> list[Recommendation]:
    """Blend, filter, diversify and explain (blocking; the service calls it off the event loop)."""
    with one_blas_thread():
        return _rank(model, user_id, k, filters, bought, returned, config, query)


def _rank(
    model: HybridModel,
    user_id: str,
    k: int,
    filters: Filters,
    bought: frozenset[str],
    returned: frozenset[str],
    config: RecommendConfig,
    query: str | None,
) -> list[Recommendation]:
    parts = model.breakdown(user_id)
    content = _content_member(model)
    if query and query.strip() and content is not None and config.query_weight:
        parts["query"] = config.query_weight * standardize(content.text_scores(query.strip()))
    if not parts:
        return []
    total = np.sum(list(parts.values()), axis=0)
    catalogue = model.data.catalogue

    def admitted(ranked: list[Scored]) -> list[Scored]:
        return [s for s in ranked if passes(catalogue.get(s.item), filters, bought, returned)]

    kept = admitted(top_k(model.data, total, config.candidates, ()))
    if len(kept) < k:
        # Narrow filters (one category, a budget): look past the first candidates.
        kept = admitted(top_k(model.data, total, len(model.data.items), ()))
    chosen = mmr(kept[: max(3 * k, 30)], _similarity(model), k, config.diversity)
    return [_explained(model, user_id, s, parts, query) for s in chosen]


def _explained(
    model: HybridModel,
    user_id: str,
    scored: Scored,
    parts: dict[str, np.ndarray],
    query: str | None,
) -> Recommendation:
    index = model.data.item_index[scored.item]
    breakdown = {name: round(float(score[index]), 4) for name, score in parts.items()}
    leader = max(breakdown, key=lambda name: breakdown[name])
    if leader == "query" and query:
        reason = Reason("query", f"符合您说的「{query.strip()}」", f"Matches '{query.strip()}'")
    else:
        member = next(m for m, _w in model.members if m.name == leader)
        reason = member.explain(user_id, scored.item)
    return Recommendation(
        item=model.data.catalogue[scored.item],
        score=round(scored.score, 4),
        reason=reason,
        breakdown=breakdown,
    )


def _content_member(model: HybridModel) -> ContentModel | None:
    return next((m for m, _w in model.members if isinstance(m, ContentModel)), None)


def _similarity(model: HybridModel) -> Callable[[str, str], float]:
    """Item-to-item similarity for MMR: text vectors when the content model serves, else
    whether two items share a category."""
    content = _content_member(model)
    if content is not None:
        vectors = content.item_vectors
        index = model.data.item_index

        def cosine(a: str, b: str) -> float:
            return float(vectors[index[a]] @ vectors[index[b]])

        return cosine
    catalogue = model.data.catalogue

    def same_category(a: str, b: str) -> float:
        return 1.0 if catalogue[a].category == catalogue[b].category else 0.0

    return same_category


def _item_row(item: CatalogueItem) -> ItemRow:
    return ItemRow(
        id=item.id,
        name_zh=item.name_zh,
        name_en=item.name_en,
        category=item.category,
        price=item.price,
        description_zh=item.description_zh,
        description_en=item.description_en,
        stock=item.stock,
        attributes=dict(item.attributes),
        image=item.image,
    )


def _item(row: ItemRow) -> CatalogueItem:
    return CatalogueItem(
        id=row.id,
        name_zh=row.name_zh,
        name_en=row.name_en,
        category=row.category,
        price=row.price,
        description_zh=row.description_zh,
        description_en=row.description_en,
        stock=row.stock,
        attributes={str(k): str(v) for k, v in (row.attributes or {}).items()},
        image=row.image,
    )


def _event_values(event: Event) -> dict[str, object]:
    return {
        "user_id": event.user_id,
        "item_id": event.item_id,
        "kind": event.kind,
        "value": event.value,
        "channel": event.channel,
        "device": event.device,
        "query": event.query,
        "at": event.at,
    }


def _event(row: EventRow) -> Event:
    return Event(
        user_id=row.user_id,
        item_id=row.item_id,
        kind=row.kind,  # type: ignore[arg-type]
        at=row.at,
        value=row.value,
        channel=row.channel,
        device=row.device,
        query=row.query,
    )
