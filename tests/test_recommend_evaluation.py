"""evaluate(), the cold-start and ranker-lift protocols on small seeded SYNTHETIC data."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.recommend import UnknownModel, cold_start, evaluate, ranker_lift
from bot.recommend._synthetic import generate
from knowledge import E5Embedder

METRICS = {
    "precision@10",
    "recall@10",
    "ndcg@10",
    "map@10",
    "coverage",
    "diversity",
    "novelty",
    "users",
    "train_seconds",
    "params",
    "validation",
    "lift_over_popularity",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return generate(users=150, items=200, mean_ratings=40, seed=5).write(
        tmp_path_factory.mktemp("synthetic")
    )


def test_evaluate_reports_every_model_beside_the_baselines(files: tuple[Path, Path]) -> None:
    ratings, catalogue = files
    report = evaluate(
        ratings,
        "movielens",
        10,
        0.25,
        42,
        ["als", "itemknn", "svd", "hybrid"],
        catalogue_path=catalogue,
    )
    assert set(report["models"]) == {"popularity", "random", "als", "itemknn", "svd", "hybrid"}
    for figures in report["models"].values():
        assert set(figures) == METRICS
        assert figures["users"] == report["models"]["popularity"]["users"] > 100
        assert 0 <= figures["precision@10"] <= 1
        assert 0 < figures["coverage"] <= 1
    models = report["models"]
    assert models["random"]["coverage"] > 0.9 > models["popularity"]["coverage"]
    best = max(models[m]["precision@10"] for m in ("als", "itemknn", "svd", "hybrid"))
    assert best > models["popularity"]["precision@10"] > 2 * models["random"]["precision@10"]
    assert set(models["als"]["validation"]) == {
        "{'factors': 32, 'alpha': 1.0}",
        "{'factors': 32, 'alpha': 4.0}",
        "{'factors': 64, 'alpha': 1.0}",
        "{'factors': 64, 'alpha': 4.0}",
    }
    assert report["protocol"]["split"] == "per-user random 75%/25%, seed 42"
    assert report["protocol"]["diversity_basis"] == "item categories"
    # Same seed, same figures.
    again = evaluate(ratings, "movielens", 10, 0.25, 42, ["svd"])
    assert again["models"]["svd"]["precision@10"] == models["svd"]["precision@10"]


def test_without_a_catalogue_the_content_model_is_unavailable(files: tuple[Path, Path]) -> None:
    report = evaluate(files[0], "movielens", 5, 0.2, 1, ["content"])
    assert report["models"]["content"] == {
        "unavailable": "needs a catalogue with texts and embedder"
    }
    assert report["protocol"]["diversity_basis"] == "cosine of item rating columns"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"models": ["lightgcn"]}, UnknownModel, "unknown model 'lightgcn'; choose from itemknn"),
        ({"test_ratio": 1.5}, ValueError, "test_ratio must be between 0 and 1, not 1.5"),
        ({"k": 0}, ValueError, "k must be 1 or more, not 0"),
    ],
)
def test_bad_evaluation_arguments(
    files: tuple[Path, Path], kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        evaluate(files[0], "movielens", **kwargs)  # type: ignore[arg-type]


def test_content_model_finds_cold_items_far_better_than_random(tmp_path: Path) -> None:
    # A smaller catalogue than the other tests: every item text goes through the e5 model.
    ratings, catalogue = generate(users=100, items=80, mean_ratings=20, seed=5).write(tmp_path)
    result = cold_start(ratings, "movielens", catalogue, E5Embedder(), k=3, cold_ratio=0.15)
    assert result["cold_items"] == 12
    assert result["users"] > 30
    assert result["ratio_over_random"] > 1.5
    assert result["precision@3"] > 1.5 * result["random_precision@3"]


def test_ranker_lift_reports_both_orders(files: tuple[Path, Path]) -> None:
    result = ranker_lift(files[0], "movielens", files[1], k=10, candidates=30, factors=16)
    assert result["log_clicks"] > 0
    assert result["test_users"] > 50
    assert set(result["generator"]) == set(result["widedeep"]) == {"precision@10", "ndcg@10"}
    assert set(result["lift"]) == {"precision@10", "ndcg@10"}
