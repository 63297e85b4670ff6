"""ALS trained on Apache Spark in ``local[2]`` mode (a real JVM), on seeded SYNTHETIC data."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from bot.recommend import (
    CATALOGUE,
    Event,
    Interactions,
    RecommendConfig,
    RecommendService,
    SparkALSModel,
    TrainingEngineUnavailable,
    build_interactions,
    evaluate,
    load_events,
)
from bot.recommend._spark import spark_session
from bot.recommend._synthetic import generate
from bot.storage import Database
from tests.test_recommend_service import NOW, shop_history


@pytest.fixture(scope="module")
def ratings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _catalogue = generate(users=150, items=200, mean_ratings=40, seed=5).write(
        tmp_path_factory.mktemp("synthetic")
    )
    return path


def test_spark_als_ranks_like_implicit_als_and_beats_popularity(ratings: Path) -> None:
    # Both solvers at the same hyper-parameters, not tuned: what is compared is the solver, and
    # each Spark fit of the grid costs seconds of JVM work.
    point = {"factors": 32, "alpha": 1.0}
    grids = {"spark_als": [point], "als": [point]}
    report = evaluate(ratings, "movielens", 10, 0.25, 42, ["spark_als", "als"], grids=grids)
    models = report["models"]
    spark, local = models["spark_als"], models["als"]
    assert spark["precision@10"] > 1.2 * models["popularity"]["precision@10"]
    # Same model (Hu-Koren-Volinsky), other solver: within 20 % of the implicit library's.
    assert spark["precision@10"] >= 0.8 * local["precision@10"]
    assert spark["params"] == local["params"] == point
    assert spark["validation"] == {}  # a grid of one point is not tuned
    assert spark["coverage"] > 0


def test_a_grid_given_replaces_the_shipped_one(ratings: Path) -> None:
    grids = {"als": [{"factors": 8, "alpha": 1.0}, {"factors": 16, "alpha": 1.0}]}
    report = evaluate(ratings, "movielens", 10, 0.25, 42, ["als"], grids=grids)
    assert set(report["models"]["als"]["validation"]) == {repr(p) for p in grids["als"]}
    assert report["models"]["als"]["params"] in grids["als"]


def test_spark_factors_serve_fold_in_and_reasons(ratings: Path) -> None:
    events, problems = load_events(ratings, "movielens")
    assert problems == []
    data = build_interactions(events, [])
    model = SparkALSModel(factors=16, iterations=8)
    model.fit(data)
    user = data.users[0]
    before = [s.item for s in model.recommend(user, 5)]
    assert len(before) == 5
    # A burst of purchases of one item's nearest neighbours moves this user's next list.
    anchor = model.similar(before[0], 10)
    for scored in anchor[:6]:
        data.add(user, scored.item, 5.0)
    after = [s.item for s in model.recommend(user, 5)]
    assert after != before
    reason = model.explain(user, after[0])
    assert reason.zh
    assert reason.en
    scores = model.user_scores(user)
    assert scores is not None
    assert np.isfinite(scores).all()


def test_an_unknown_master_is_a_clear_error() -> None:
    with pytest.raises(TrainingEngineUnavailable, match="cannot start Spark at nonsense://"):
        spark_session("nonsense://nowhere")
    # The next fit on the default master still works (the broken session is not kept).
    model = SparkALSModel(factors=4, iterations=3)
    model.fit(_small_history())
    assert len(model.recommend("3", 3)) == 3


def _small_history() -> Interactions:
    return build_interactions(
        [
            Event(str(u), str(i), "purchase", datetime(2026, 1, 1, tzinfo=UTC))
            for u in range(20)
            for i in range(u % 5, u % 5 + 4)
        ],
        [],
    )


def test_a_spark_jvm_that_exited_is_replaced_at_the_next_training(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from pyspark import SparkContext

    model = SparkALSModel(factors=4, iterations=3)
    model.fit(_small_history())
    assert SparkContext._gateway is not None
    jvm = SparkContext._gateway.proc
    jvm.kill()  # as the kernel's out-of-memory killer would
    jvm.wait(timeout=30)
    with caplog.at_level(logging.WARNING, logger="bot.recommend._spark"):
        model.fit(_small_history())
    assert len(model.recommend("3", 3)) == 3
    assert SparkContext._gateway.proc is not jvm
    assert SparkContext._gateway.proc.poll() is None
    assert "Spark's JVM had exited" in caplog.text


@pytest.mark.parametrize("missing", ["pyarrow", "pyspark.sql"])
def test_a_missing_package_is_named_before_any_work(
    missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # what an environment without it imports
    model = SparkALSModel(factors=4, iterations=3)
    with pytest.raises(TrainingEngineUnavailable, match=r"install requirements/spark\.txt"):
        model.fit(_small_history())


def test_no_python_worker_runs_on_sparks_side(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Executors find the Python they would run on their PATH (here: one that always fails);
    # the interactions go as an Arrow table the JVM reads itself, so none is ever started.
    monkeypatch.setenv("PYSPARK_PYTHON", "/bin/false")
    spark_session("local[2]").stop()  # a new context reads the variable
    model = SparkALSModel(factors=4, iterations=3)
    model.fit(_small_history())
    assert len(model.recommend("3", 3)) == 3


async def test_the_service_trains_its_als_on_spark_when_a_master_is_set(tmp_path: Path) -> None:
    # SQLite only: the database plays no part in where the model trains.
    database = Database(f"sqlite:///{tmp_path}/hub.db")
    await database.migrate()
    try:
        service = RecommendService(
            database, config=RecommendConfig(spark_master="local[2]"), clock=lambda: NOW
        )
        await service.import_catalogue(CATALOGUE)
        for event in shop_history():
            await service.record_event(event)
        report = await service.train()
        assert report.models == ("spark_als", "itemknn", "popularity")
        picks = await service.recommend("c04", k=4)  # c04 favours books
        assert sum(r.item.category == "books" for r in picks) >= 2
    finally:
        database.dispose()
