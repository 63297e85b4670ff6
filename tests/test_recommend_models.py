"""Every model behind the one interface, on a small seeded SYNTHETIC ratings set."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest

from bot.recommend import (
    ALSModel,
    BPRModel,
    CatalogueItem,
    Context,
    Event,
    HybridModel,
    Impression,
    Interactions,
    ItemKNNModel,
    NotFitted,
    PopularityModel,
    Reason,
    Recommender,
    Scored,
    SVDModel,
    UnknownModel,
    WideDeepRanker,
    build_interactions,
    build_model,
    load_events,
    mmr,
)
from bot.recommend._evaluation import Split, score_model, split_per_user
from bot.recommend._synthetic import generate
from tests.test_recommend_data import DATA

K = 10


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Split:
    data = generate(users=200, items=300, mean_ratings=40, seed=3)
    ratings, _catalogue = data.write(tmp_path_factory.mktemp("synthetic"))
    events, problems = load_events(ratings, "movielens")
    assert problems == []
    return split_per_user(build_interactions(events, data.catalogue), 0.25, 42)


FACTORIES: dict[str, Callable[[], Recommender]] = {
    "itemknn": lambda: ItemKNNModel(neighbours=50),
    "als": lambda: ALSModel(factors=16, iterations=10),
    "bpr": lambda: BPRModel(factors=16, iterations=60),
    "svd": lambda: SVDModel(factors=16),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_each_model_beats_random_and_popularity(split: Split, name: str) -> None:
    model = FACTORIES[name]()
    model.fit(split.train)
    random_model = build_model("random")
    random_model.fit(split.train)
    popularity = PopularityModel()
    popularity.fit(split.train)
    precision = score_model(model, split, K)[f"precision@{K}"]
    assert precision > 2 * score_model(random_model, split, K)[f"precision@{K}"]
    assert precision > score_model(popularity, split, K)[f"precision@{K}"]


@pytest.mark.parametrize("name", [*sorted(FACTORIES), "popularity"])
def test_interface_contract(split: Split, name: str) -> None:
    model: Recommender = FACTORIES.get(name, PopularityModel)()
    model.fit(split.train)
    user = split.train.users[0]
    seen = [split.train.items[i] for i in split.train.history(user)[0]]
    recs = model.recommend(user, K, exclude=seen)
    assert len(recs) == K
    assert not {r.item for r in recs} & set(seen)
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
    item = recs[0].item
    similar = model.similar(item, 5)
    assert len(similar) == 5
    assert item not in {s.item for s in similar}
    reason = model.explain(user, item)
    assert isinstance(reason, Reason)
    assert reason.model == name
    assert reason.zh
    assert reason.en


def test_unfitted_model_says_to_fit() -> None:
    with pytest.raises(NotFitted, match="model 'als' is not fitted; call fit"):
        ALSModel().recommend("u", 3)


def test_unknown_model_name() -> None:
    with pytest.raises(UnknownModel, match="unknown model 'lightgcn'; choose from popularity"):
        build_model("lightgcn")


@pytest.mark.parametrize("name", ["als", "bpr", "svd", "itemknn"])
def test_a_new_event_changes_the_next_recommendations_without_refit(
    split: Split, name: str
) -> None:
    model = FACTORIES[name]()
    model.fit(split.train)
    user = split.train.users[5]
    before = model.recommend(user, K)
    # The user suddenly buys several items of the model's least-liked kind.
    scores = model.user_scores(user)
    assert scores is not None
    for index in np.argsort(scores)[:5]:
        assert split.train.add(user, split.train.items[int(index)], 5.0)
    after = model.recommend(user, K)
    split.train.live.clear()
    assert [r.item for r in after] != [r.item for r in before]
    assert [r.item for r in model.recommend(user, K)] == [r.item for r in before]


def test_a_user_first_seen_after_the_fit_gets_personal_results(split: Split) -> None:
    model = ALSModel(factors=16, iterations=10)
    model.fit(split.train)
    assert model.recommend("newcomer", K) == []
    liked = split.train.items[:3]
    for item in liked:
        split.train.add("newcomer", item, 5.0)
    recs = model.recommend("newcomer", K, exclude=liked)
    split.train.live.clear()
    assert len(recs) == K


def test_movielens_fixture_end_to_end() -> None:
    events, _problems = load_events(DATA / "u.data", "movielens")
    data = build_interactions(events)
    model = ItemKNNModel()
    model.fit(data)
    user = data.users[0]
    recs = model.recommend(user, 3, exclude=[data.items[i] for i in data.history(user)[0]])
    assert 0 < len(recs) <= 3


def test_hybrid_reason_comes_from_the_leading_model(split: Split) -> None:
    als, pop = ALSModel(factors=16, iterations=10), PopularityModel()
    hybrid = HybridModel([(als, 1.0), (pop, 0.01)])
    hybrid.fit(split.train)
    user = split.train.users[1]
    top = hybrid.recommend(user, 1)[0]
    assert hybrid.explain(user, top.item).model == "als"
    pop_led = HybridModel([(als, 0.0001), (pop, 1.0)], fit_members=False)
    pop_led.fit(split.train)
    assert pop_led.explain(user, pop_led.recommend(user, 1)[0].item).model == "popularity"


def test_mmr_trades_relevance_for_diversity() -> None:
    ranked = [Scored("a1", 1.0), Scored("a2", 0.95), Scored("a3", 0.9), Scored("b1", 0.5)]

    def same_letter(x: str, y: str) -> float:
        return 1.0 if x[0] == y[0] else 0.0

    assert [s.item for s in mmr(ranked, same_letter, 2, trade_off=1.0)] == ["a1", "a2"]
    assert [s.item for s in mmr(ranked, same_letter, 2, trade_off=0.5)] == ["a1", "b1"]
    assert mmr([], same_letter, 3) == []


def test_wide_and_deep_learns_a_context_pattern_from_an_impression_log() -> None:
    # Ten users, twenty items in two categories; the clicks depend on the device only:
    # phone users click category "x", desktop users "y". The generator knows nothing of it.
    catalogue = [
        CatalogueItem(f"i{n}", f"商品{n}", f"item {n}", "x" if n < 10 else "y", 10.0 + n)
        for n in range(20)
    ]
    at = datetime(2026, 12, 1, tzinfo=UTC)
    events = [
        Event(f"u{u}", f"i{(u * 7 + j) % 20}", "view", at) for u in range(10) for j in range(3)
    ]
    data = build_interactions(events, catalogue)
    ranker = WideDeepRanker(PopularityModel(), candidates=20, epochs=40, seed=1)
    log = [
        Impression(f"u{u}", f"i{n}", (n < 10) == (device == "phone"), Context(20, device, "app"))
        for u in range(10)
        for n in range(20)
        for device in ("phone", "desktop")
    ]
    ranker.fit_log(data, log)
    phone = ranker.rank("u1", 5, context=Context(20, "phone", "app"))
    desktop = ranker.rank("u1", 5, context=Context(20, "desktop", "app"))
    assert {data.catalogue[s.item].category for s in phone} == {"x"}
    assert {data.catalogue[s.item].category for s in desktop} == {"y"}


def test_interactions_ignore_unknown_items(split: Split) -> None:
    assert not split.train.add("someone", "no-such-item", 1.0)
    assert isinstance(split.train, Interactions)


def test_wide_and_deep_fits_on_interactions_through_a_simulated_log(split: Split) -> None:
    def generator() -> ALSModel:
        return ALSModel(factors=16, iterations=10)

    ranker = WideDeepRanker(generator(), candidates=30, epochs=3, generator_factory=generator)
    log = ranker.simulate_log(split.train)
    assert log
    assert any(i.clicked for i in log)
    assert not all(i.clicked for i in log)
    ranker.fit(split.train)
    random_model = build_model("random")
    random_model.fit(split.train)
    precision = score_model(ranker, split, K)[f"precision@{K}"]
    assert precision > 2 * score_model(random_model, split, K)[f"precision@{K}"]
    user = split.train.users[0]
    assert ranker.explain(user, ranker.recommend(user, 1)[0].item).model == "als"


def test_wide_and_deep_without_a_generator_factory_needs_a_log(split: Split) -> None:
    with pytest.raises(ValueError, match="fit\\(\\) needs generator_factory"):
        WideDeepRanker(PopularityModel()).fit(split.train)


def test_the_platform_imports_without_torch_and_old_model_versions_still_load() -> None:
    # torch takes seconds to import: only training or ranking with Wide & Deep imports it.
    probe = "import sys, bot.recommend; print('torch' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "False"
    # Versions pickled when the network class was bot.recommend._widedeep._Net still load.
    from bot.recommend._widedeep_net import WideDeepNet

    unpickler = pickle.Unpickler(io.BytesIO(b""))
    assert unpickler.find_class("bot.recommend._widedeep", "_Net") is WideDeepNet
