"""Thresholds per language of the question, and their calibration on a QA set."""

from __future__ import annotations

import pytest

from bot.app import Settings, knowledge_config
from knowledge import KnowledgeConfig
from knowledge._base import ANSWER_THRESHOLDS, FAQ_THRESHOLDS
from knowledge._eval import QAItem, calibrate
from knowledge._retrieval import DocumentHit


def _signal(
    question: str, language: str, relevant: tuple[str, ...], similarity: float
) -> tuple[QAItem, list[DocumentHit]]:
    doc = relevant[0] if relevant else "unrelated-faq"
    hit = DocumentHit(doc, score=1.0, question_similarity=similarity, passage_similarity=0.5)
    return QAItem(question, relevant, language), [hit]


def _language(item: QAItem) -> str:
    assert item.language is not None
    return item.language


def test_each_language_gets_its_own_thresholds() -> None:
    # Chinese questions sit higher on the similarity scale than English ones: a single threshold
    # either answers the Chinese questions the corpus does not cover or misses English ones.
    signals = [
        *(_signal(f"zh answerable {i}", "zh", (f"zh-{i}",), 0.95) for i in range(6)),
        *(_signal(f"zh unanswerable {i}", "zh", (), 0.93) for i in range(5)),
        *(_signal(f"en answerable {i}", "en", (f"en-{i}",), 0.90) for i in range(6)),
        *(_signal(f"en unanswerable {i}", "en", (), 0.86) for i in range(5)),
    ]
    result = calibrate(signals, _language)
    assert (result["answer_rate"], result["abstention_rate"]) == (1.0, 1.0)
    assert result["correct_answer_rate"] == 1.0
    zh, en = result["thresholds"]["zh"], result["thresholds"]["en"]
    assert 0.93 < zh["faq"] <= 0.95
    assert 0.86 < en["faq"] <= 0.90
    assert set(result["cross_validated"]) == {
        "abstention_rate",
        "answer_rate",
        "correct_answer_rate",
        "false_answer_rate",
    }


def test_calibration_keeps_the_abstention_target_before_answering_more() -> None:
    # One language; the unanswerable questions score like half the answerable ones, so meeting
    # the 90% abstention target costs answers, and the calibration pays that price.
    signals = [
        *(_signal(f"a{i}", "en", (f"d{i}",), 0.90 + i * 0.01) for i in range(6)),
        *(_signal(f"u{i}", "en", (), 0.925) for i in range(10)),
    ]
    result = calibrate(signals, _language)
    assert result["abstention_rate"] >= 0.9
    assert result["answer_rate"] == pytest.approx(3 / 6, abs=1e-4)
    assert result["thresholds"]["en"]["faq"] > 0.925


def test_config_thresholds_per_language() -> None:
    config = KnowledgeConfig()
    assert config.thresholds("zh") == (FAQ_THRESHOLDS["zh"], ANSWER_THRESHOLDS["zh"])
    assert config.thresholds("en") == (FAQ_THRESHOLDS["en"], ANSWER_THRESHOLDS["en"])
    # A language without its own threshold gets the strictest.
    assert config.thresholds("fr") == (
        max(FAQ_THRESHOLDS.values()),
        max(ANSWER_THRESHOLDS.values()),
    )
    single = KnowledgeConfig(faq_threshold=0.9, answer_threshold=0.8)
    assert single.thresholds("zh") == single.thresholds("en") == (0.9, 0.8)


def test_threshold_settings_take_a_number_or_one_per_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert knowledge_config(Settings(_env_file=None)).thresholds("en") == (  # type: ignore[call-arg]
        FAQ_THRESHOLDS["en"],
        ANSWER_THRESHOLDS["en"],
    )
    monkeypatch.setenv("BOT_KNOWLEDGE_FAQ_THRESHOLD", "0.91")
    monkeypatch.setenv("BOT_KNOWLEDGE_ANSWER_THRESHOLD", '{"zh": 0.88, "en": 0.84}')
    config = knowledge_config(Settings(_env_file=None))  # type: ignore[call-arg]
    assert config.thresholds("zh") == (0.91, 0.88)
    assert config.thresholds("en") == (0.91, 0.84)
    monkeypatch.setenv("BOT_KNOWLEDGE_ANSWER_THRESHOLD", "high")
    with pytest.raises(ValueError, match="knowledge_answer_threshold"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_the_related_questions_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert knowledge_config(Settings(_env_file=None)).related == 3  # type: ignore[call-arg]
    monkeypatch.setenv("BOT_KNOWLEDGE_RELATED", "0")
    assert knowledge_config(Settings(_env_file=None)).related == 0  # type: ignore[call-arg]
    for bad in ("-1", "11", "some"):
        monkeypatch.setenv("BOT_KNOWLEDGE_RELATED", bad)
        with pytest.raises(ValueError, match="knowledge_related"):
            Settings(_env_file=None)  # type: ignore[call-arg]
