"""RecommendService on a real database (SQLite and PostgreSQL): import, events, profiles,
training, filtered and explained recommendations, real-time updates, bad input."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect

from bot.recommend import (
    CATALOGUE,
    Event,
    EventKind,
    Filters,
    ImportReport,
    InvalidEvent,
    ModelStore,
    NotFitted,
    RecommendConfig,
    RecommendError,
    RecommendService,
    RowProblem,
    UserProfile,
)
from bot.storage import Database
from knowledge import E5Embedder
from tests.migrations import model_differences

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CATEGORIES = ("electronics", "home_appliances", "clothing", "beauty", "books", "food")


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.migrate()
    yield db
    db.dispose()


@pytest.fixture
async def service(database: Database) -> RecommendService:
    service = RecommendService(database, clock=lambda: NOW)
    report = await service.import_catalogue(CATALOGUE)
    assert report == ImportReport(32, ())
    return service


def shop_history(seed: int = 7) -> list[Event]:
    """Forty customers who each favour one category: mostly views, some carts and purchases."""
    rng = random.Random(seed)
    catalogue = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    by_category = {c: [i["id"] for i in catalogue if i["category"] == c] for c in CATEGORIES}
    events = []
    for user in range(40):
        favourite = CATEGORIES[user % len(CATEGORIES)]
        for step in range(8):
            pool = (
                by_category[favourite]
                if rng.random() < 0.85
                else rng.choice(list(by_category.values()))
            )
            kinds: list[EventKind] = ["view", "view", "click", "cart", "purchase"]
            kind = rng.choice(kinds)
            at = NOW - timedelta(days=30 - step)
            events.append(Event(f"c{user:02d}", rng.choice(pool), kind, at, channel="webchat"))
    return events


async def trained(service: RecommendService, tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(
        "".join(
            f'{{"user_id": "{e.user_id}", "item_id": "{e.item_id}", "kind": "{e.kind}", "at": "{e.at.isoformat()}", "channel": "{e.channel}"}}\n'
            for e in shop_history()
        )
        + '{"user_id": "c99", "kind": "view"}\n',
        encoding="utf-8",
    )
    report = await service.import_events(path, "jsonl")
    assert report == ImportReport(320, (RowProblem(321, "missing item_id"),))
    train = await service.train()
    assert (train.users, train.items, train.events) == (40, 32, 320)
    assert train.models == ("als", "itemknn", "popularity")


async def test_profile_follows_each_event(service: RecommendService) -> None:
    assert await service.profile("alice") is None
    await service.record_event(Event("alice", "EL-005", "view", NOW - timedelta(days=3)), "zh")
    profile = await service.record_event(
        Event("alice", "BO-001", "purchase", NOW - timedelta(days=2)), "zh"
    )
    assert profile == UserProfile(
        user_id="alice",
        category_affinity={"books": 0.8333, "electronics": 0.1667},
        price_band_affinity={"budget": 0.8333, "premium": 0.1667},
        recency_days=2.0,
        frequency=1,
        monetary=93.0,
        language="zh",
        events=2,
        last_event_at=NOW - timedelta(days=2),
    )
    returned = await service.record_event(
        Event("alice", "BO-001", "return", NOW - timedelta(days=1))
    )
    assert (returned.category_affinity, returned.monetary, returned.language) == (
        {"electronics": 1.0},
        0.0,
        "zh",
    )
    assert await service.profile("alice") == returned


async def test_recommendations_are_personal_filtered_and_explained(
    service: RecommendService, database: Database, tmp_path: Path
) -> None:
    with pytest.raises(NotFitted, match="run train\\(\\) first"):
        await service.recommend("c00")
    await trained(service, tmp_path)
    # c04 favours books (index 4): in the model's own order (no MMR) their top picks are books.
    service_without_mmr = RecommendService(
        database, config=RecommendConfig(diversity=1.0), clock=lambda: NOW
    )
    await service_without_mmr.train()
    keep_bought = Filters(exclude_bought=False)
    plain = await service_without_mmr.recommend("c04", k=4, filters=keep_bought)
    assert sum(r.item.category == "books" for r in plain) >= 3
    # MMR (the default) keeps the best item first and brings in other categories.
    recs = await service.recommend("c04", k=4, filters=keep_bought)
    assert recs[0].item.id == plain[0].item.id
    assert len({r.item.category for r in recs}) > len({r.item.category for r in plain})
    for rec in recs:
        assert rec.item.stock != 0
        assert set(rec.breakdown) == {"als", "itemknn", "popularity"}
        assert rec.reason.zh
        assert rec.reason.en
        assert rec.reason.model in rec.breakdown
    # Business filters come after ranking.
    cheap = await service.recommend("c00", k=3, filters=Filters(budget_high=300))
    assert cheap
    assert all(r.item.price <= 300 for r in cheap)
    food = await service.recommend("c00", k=2, filters=Filters(category="food"))
    assert [r.item.category for r in food] == ["food", "food"]
    bought = {e.item_id for e in await service.events_of("c00") if e.kind == "purchase"}
    assert bought
    assert not bought & {r.item.id for r in await service.recommend("c00", k=10)}
    assert "EL-006" not in {r.item.id for r in await service.recommend("c00", k=32)}


async def test_a_new_event_changes_that_customers_next_recommendations(
    service: RecommendService, tmp_path: Path
) -> None:
    await trained(service, tmp_path)
    before = [r.item.id for r in await service.recommend("c00", k=5)]
    for sku in ("FD-001", "FD-002", "FD-003"):
        await service.record_event(Event("c00", sku, "purchase", NOW))
    after = await service.recommend("c00", k=5, filters=Filters(exclude_bought=False))
    assert [r.item.id for r in after] != before
    catalogue = await service.catalogue()
    food_before = sum(catalogue[sku].category == "food" for sku in before)
    assert sum(r.item.category == "food" for r in after) > food_before
    # A returned item, or one the customer said "not interested" to, is not offered again.
    await service.record_event(Event("c00", "FD-004", "return", NOW))
    await service.record_event(Event("c00", after[0].item.id, "dismiss", NOW))
    offered = {r.item.id for r in await service.recommend("c00", k=32)}
    assert "FD-004" not in offered
    assert after[0].item.id not in offered


async def test_a_newcomer_gets_popular_items_with_the_popularity_reason(
    service: RecommendService, tmp_path: Path
) -> None:
    await trained(service, tmp_path)
    recs = await service.recommend("stranger", k=3)
    assert len(recs) == 3
    assert {r.reason.model for r in recs} == {"popularity"}
    assert recs[0].reason.en == f"Popular in {recs[0].item.category}"


async def test_without_consent_everyone_gets_the_same_popular_items(
    service: RecommendService, tmp_path: Path
) -> None:
    await trained(service, tmp_path)
    keep = Filters(exclude_bought=False)
    first = await service.recommend("c00", k=4, filters=keep, personalised=False)
    second = await service.recommend("c04", k=4, filters=keep, personalised=False)
    assert [r.item.id for r in first] == [r.item.id for r in second]
    assert {r.reason.model for r in first} == {"popularity"}
    assert [r.item.id for r in first] != [
        r.item.id for r in await service.recommend("c00", k=4, filters=keep)
    ]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (Event("u", "NOPE", "view", NOW), "item 'NOPE' is not in the catalogue; import it"),
        (Event("u", "EL-001", "rating", NOW), "a rating event needs a value between 0 and 10"),
        (Event("u", "EL-001", "rating", NOW, 11), "a rating event needs a value between 0 and 10"),
        (Event("u", "EL-001", "like", NOW), "kind 'like' is not one of"),  # type: ignore[arg-type]
        (Event("u", "EL-001", "view", datetime(2026, 12, 1)), "has no time zone"),
    ],
)
async def test_bad_events_are_refused_and_nothing_is_stored(
    service: RecommendService, event: Event, message: str
) -> None:
    await service.record_event(Event("u", "EL-001", "view", NOW))
    with pytest.raises(InvalidEvent, match=message):
        await service.record_event(event)
    assert [e.item_id for e in await service.events_of("u")] == ["EL-001"]
    profile = await service.profile("u")
    assert profile is not None
    assert profile.events == 1


async def test_content_model_joins_the_blend_and_similar_items(
    database: Database, tmp_path: Path
) -> None:
    service = RecommendService(database, embedder=E5Embedder(), clock=lambda: NOW)
    await service.import_catalogue(CATALOGUE)
    for event in shop_history()[:80]:
        await service.record_event(event)
    report = await service.train()
    assert report.models == ("als", "itemknn", "popularity", "content")
    similar = await service.similar("EL-001", k=3)
    assert [r.item.category for r in similar].count("electronics") >= 2
    assert similar[0].reason.en == "Similar to Huawei Mate 60 phone"
    recs = await service.recommend("c01", k=4)
    assert len(recs) == 4
    assert all("content" in r.breakdown for r in recs)
    # The customer's own words steer the answer, and the reason quotes them.
    asked = await service.recommend("c01", k=1, query="降噪耳机")
    assert asked[0].item.id == "EL-005"
    assert (asked[0].reason.zh, asked[0].reason.en) == (
        "符合您说的「降噪耳机」",
        "Matches '降噪耳机'",
    )


async def test_trained_models_are_versioned_and_picked_up_without_restart(
    database: Database, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    trainer = RecommendService(database, clock=lambda: NOW, model_dir=models)
    server = RecommendService(database, clock=lambda: NOW, model_dir=models)
    await trainer.import_catalogue(CATALOGUE)
    for event in shop_history()[:160]:
        await trainer.record_event(event)
    assert await server.refresh() is None
    first = await trainer.train()
    assert first.version == 1
    assert sorted(p.name for p in (models / "v0001").iterdir()) == ["model.pkl", "report.json"]
    # The serving process picks the version up, and events recorded since reach it live.
    await trainer.record_event(Event("c01", "FD-002", "purchase", NOW))
    assert await server.refresh() == 1
    assert await server.refresh() is None
    served = await server.recommend("c01", k=5)
    assert [r.item.id for r in served] == [r.item.id for r in await trainer.recommend("c01", k=5)]
    assert "FD-002" not in {r.item.id for r in served}
    second = await trainer.train()
    assert (second.version, second.events) == (2, 161)
    assert await server.refresh() == 2


async def test_an_unreadable_model_version_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "models" / "v0001"
    broken.mkdir(parents=True)
    (broken / "model.pkl").write_bytes(b"not a pickle")
    (broken / "report.json").write_text('{"version": 1, "last_event_id": 0}', encoding="utf-8")
    store = ModelStore(tmp_path / "models")
    assert store.versions() == [1]
    with pytest.raises(RecommendError, match=r"model version 1 in .*model.pkl cannot be read"):
        store.load(1, None)


def test_migration_0300_creates_exactly_the_modules_tables(database: Database) -> None:
    assert model_differences(database, "recommend") == []
    tables = set(inspect(database.engine).get_table_names())
    assert {"recommend_items", "recommend_events", "recommend_profiles"} <= tables
